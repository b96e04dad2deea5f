"""`manage.py billing_reconcile` and seat sync: local state repaired from Stripe's."""

import io

import pytest
from django.core.management import call_command

from billing import tasks
from billing.models import Subscription
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def reconcile(*args) -> str:
    out = io.StringIO()
    call_command("billing_reconcile", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_a_missed_cancellation_is_repaired(team, subscribe, fake_stripe):
    organization, members, clients = team
    subscription = subscribe(clients["owner"])
    fake_stripe.subscription_update(subscription["id"], status="canceled")  # the webhook never came

    dry = reconcile("--dry-run")
    assert Subscription.objects.get(organization=organization).plan.code == "pro"
    output = reconcile()

    assert "would repair" in dry and "status: local 'active', Stripe 'canceled'" in dry
    assert "repaired" in output and "1 drifted" in output
    account = Subscription.objects.get(organization=organization)
    assert account.plan.code == "free" and account.status == "canceled"
    assert "0 drifted" in reconcile()


def test_a_missed_upgrade_is_repaired(team, subscribe, fake_stripe, synced_plans):
    organization, members, clients = team
    subscription = subscribe(clients["owner"])
    item = fake_stripe.get(subscription["id"])["items"]["data"][0]
    item["price"] = fake_stripe.get(synced_plans["team"].stripe_price_month_id)
    item["quantity"] = 4

    reconcile()

    account = Subscription.objects.get(organization=organization)
    assert account.plan.code == "team" and account.seats == 4


def test_seats_follow_the_member_count_for_per_seat_plans(team, subscribe, fake_stripe):
    organization, members, clients = team
    subscription = subscribe(clients["owner"], plan="team")
    MembershipFactory(organization=organization, role="member")

    assert tasks.sync_seats.delay(str(organization.id)).get() is True

    assert fake_stripe.get(subscription["id"])["items"]["data"][0]["quantity"] == 5
    assert Subscription.objects.get(organization=organization).seats == 5
    assert tasks.sync_seats.delay(str(organization.id)).get() is False


def test_reconcile_reports_stripe_being_down_and_goes_on(team, subscribe, fake_stripe):
    from billing.tests.stripe_fake import StripeFailure

    organization, members, clients = team
    subscribe(clients["owner"])
    fake_stripe.fail_next = StripeFailure(500, "down", kind="api_error", code="")

    output = reconcile()

    assert "1 failed" in output


def test_add_on_drift_alone_is_seen_and_repaired(team, subscribe, fake_stripe, synced_plans):
    # given an org holding an add-on whose Stripe item was removed at Stripe (no webhook came)
    from billing.models import SubscriptionAddOn

    organization, members, clients = team
    subscription = subscribe(clients["owner"])
    assert clients["owner"].post("/api/v1/billing/add-ons/extra_seats", {"quantity": 2}, format="json").status_code == 201
    remote = fake_stripe.get(subscription["id"])
    remote["items"]["data"] = [item for item in remote["items"]["data"] if item["quantity"] != 2]
    assert SubscriptionAddOn.objects.filter(organization=organization).exists()

    # when reconcile runs
    dry = reconcile("--dry-run")
    output = reconcile()

    # then the add-on difference alone counts as drift, and the local holding follows Stripe
    assert "add_ons: local {'extra_seats': 2}, Stripe {}" in dry
    assert "1 drifted" in output
    assert not SubscriptionAddOn.objects.filter(organization=organization).exists()
    assert "0 drifted" in reconcile()
