"""Plans through Razorpay Subscriptions: plan sync, checkout, state from webhooks (once, in order), reconcile."""

# The Razorpay fixtures are imported from billing.tests.razorpay_fake: test arguments share their names.
# ruff: noqa: F811

import io

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from billing.models import Plan, RazorpayWebhookEvent, Subscription
from billing.tests.conftest import code_of
from billing.tests.razorpay_fake import deliver_razorpay, fake_razorpay, razorpay_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

CHECKOUT = "/api/v1/billing/checkout"


@pytest.fixture
def razorpay_plans(synced_plans, fake_razorpay):
    """Paid plans synced to Stripe and Razorpay (`manage.py billing_sync_plans` with both configured)."""
    call_command("billing_sync_plans", stdout=io.StringIO())
    return {plan.code: plan for plan in Plan.objects.all()}


@pytest.fixture
def started(team, razorpay_plans, fake_razorpay):
    """The owner started a Razorpay subscription to pro: (organization, clients, Razorpay's subscription)."""
    organization, members, clients = team
    response = clients["owner"].post(CHECKOUT, {"plan": "pro", "interval": "month", "provider": "razorpay"}, format="json")
    assert response.status_code == 200, response.content
    return organization, clients, fake_razorpay.get(response.json()["session_id"], "subscription")


def test_plan_sync_creates_razorpay_plans_once_and_anew_when_the_price_changes(razorpay_plans, fake_razorpay):
    pro = razorpay_plans["pro"]
    remote = fake_razorpay.get(pro.razorpay_plan_month_id, "plan")
    assert remote["period"] == "monthly" and remote["item"]["amount"] == pro.price_month
    assert fake_razorpay.get(pro.razorpay_plan_year_id, "plan")["period"] == "yearly"
    assert not razorpay_plans["free"].razorpay_plan_month_id

    call_command("billing_sync_plans", stdout=io.StringIO())
    assert Plan.objects.get(code="pro").razorpay_plan_month_id == pro.razorpay_plan_month_id
    Plan.objects.filter(code="pro").update(price_month=pro.price_month + 100)
    call_command("billing_sync_plans", stdout=io.StringIO())

    assert Plan.objects.get(code="pro").razorpay_plan_month_id != pro.razorpay_plan_month_id
    assert Plan.objects.get(code="pro").razorpay_plan_year_id == pro.razorpay_plan_year_id


def test_checkout_with_razorpay_creates_a_subscription_and_returns_its_page(started, razorpay_plans):
    organization, clients, remote = started

    assert remote["plan_id"] == razorpay_plans["pro"].razorpay_plan_month_id
    assert remote["notes"]["organization_id"] == str(organization.id) and remote["status"] == "created"
    # Nothing changes here until Razorpay says the subscription is active.
    assert clients["owner"].get("/api/v1/billing/subscription").json()["plan"] == "free"


def test_activation_webhook_puts_the_org_on_the_plan_once(started, fake_razorpay, deliver_razorpay):
    organization, clients, remote = started
    active = fake_razorpay.subscription_activate(remote["id"])
    event = fake_razorpay.event("subscription.activated", subscription=active)

    deliver_razorpay((event, "evt_act"), (event, "evt_act"))

    body = clients["owner"].get("/api/v1/billing/subscription").json()
    assert body["plan"] == "pro" and body["provider"] == "razorpay" and body["status"] == "active" and body["interval"] == "month"
    assert body["current_period_end"] is not None
    assert RazorpayWebhookEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action="subscription.changed", organization_id=organization.id).count() == 1


def test_an_older_event_never_overwrites_newer_state(started, fake_razorpay, deliver_razorpay):
    organization, clients, remote = started
    active = fake_razorpay.subscription_activate(remote["id"])
    halted = fake_razorpay.subscription_update(remote["id"], status="halted")

    deliver_razorpay(fake_razorpay.event("subscription.halted", subscription=halted, created_at=1_800_000_020))
    late = deliver_razorpay(fake_razorpay.event("subscription.activated", subscription=active, created_at=1_800_000_010))

    assert late.status_code == 200
    account = Subscription.objects.get(organization=organization)
    assert account.status == "unpaid" and account.plan.code == "free"
    assert RazorpayWebhookEvent.objects.get(type="subscription.activated").note.startswith("stale")


def test_charged_renews_and_cancelled_downgrades(started, fake_razorpay, deliver_razorpay):
    organization, clients, remote = started
    deliver_razorpay(fake_razorpay.event("subscription.activated", subscription=fake_razorpay.subscription_activate(remote["id"]), created_at=1_800_000_000))
    renewed = fake_razorpay.subscription_update(remote["id"], current_end=1_900_000_000)

    deliver_razorpay(fake_razorpay.event("subscription.charged", subscription=renewed, created_at=1_800_000_100))
    assert Subscription.objects.get(organization=organization).current_period_end.timestamp() == 1_900_000_000
    cancelled = fake_razorpay.subscription_update(remote["id"], status="cancelled")
    deliver_razorpay(fake_razorpay.event("subscription.cancelled", subscription=cancelled, created_at=1_800_000_200))

    account = Subscription.objects.get(organization=organization)
    assert account.plan.code == "free" and account.status == "canceled"


def test_a_second_checkout_while_subscribed_is_a_conflict(started, fake_razorpay, deliver_razorpay):
    organization, clients, remote = started
    deliver_razorpay(fake_razorpay.event("subscription.activated", subscription=fake_razorpay.subscription_activate(remote["id"])))

    again = clients["owner"].post(CHECKOUT, {"plan": "team", "provider": "razorpay"}, format="json")
    stripe = clients["owner"].post(CHECKOUT, {"plan": "team"}, format="json")

    assert again.status_code == 409 and stripe.status_code == 409


def test_razorpay_checkout_refusals(team, razorpay_plans, settings):
    organization, members, clients = team

    free = clients["owner"].post(CHECKOUT, {"plan": "free", "provider": "razorpay"}, format="json")
    admin = clients["admin"].post(CHECKOUT, {"plan": "pro", "provider": "razorpay"}, format="json")
    settings.RAZORPAY_KEY_ID = ""
    unconfigured = clients["owner"].post(CHECKOUT, {"plan": "pro", "provider": "razorpay"}, format="json")

    assert free.status_code == 400 and admin.status_code == 403
    assert unconfigured.status_code == 503 and code_of(unconfigured) == "SERVICE_UNAVAILABLE"


def test_reconcile_repairs_a_missed_halt(started, fake_razorpay, deliver_razorpay):
    organization, clients, remote = started
    deliver_razorpay(fake_razorpay.event("subscription.activated", subscription=fake_razorpay.subscription_activate(remote["id"])))
    fake_razorpay.subscription_update(remote["id"], status="halted")  # the webhook never came
    out = io.StringIO()

    call_command("billing_reconcile", stdout=out, stderr=out)

    account = Subscription.objects.get(organization=organization)
    assert account.status == "unpaid" and account.plan.code == "free"
    assert "status: local 'active', Razorpay 'unpaid'" in out.getvalue()


def test_subscription_events_for_unknown_orgs_are_ignored(fake_razorpay, deliver_razorpay, db):
    stranger = {"id": "sub_stranger", "entity": "subscription", "status": "active", "plan_id": "plan_x", "notes": {"organization_id": "not-a-uuid"}}

    deliver_razorpay(fake_razorpay.event("subscription.activated", subscription=stranger))

    assert RazorpayWebhookEvent.objects.get().note == "ignored: no organization for this subscription"


def test_cancel_and_auto_renew_reach_razorpay_and_a_scheduled_cancel_cannot_be_undone(started, fake_razorpay, deliver_razorpay):
    # given an active Razorpay subscription
    organization, clients, remote = started
    active = fake_razorpay.subscription_activate(remote["id"])
    deliver_razorpay((fake_razorpay.event("subscription.activated", subscription=active), "evt_on"))
    # when the owner turns auto-renew off
    response = clients["owner"].put("/api/v1/billing/subscription/auto-renew", {"enabled": False}, format="json")
    # then Razorpay was asked to cancel at the cycle's end and the org keeps its plan until then
    assert response.status_code == 200, response.content
    body = clients["owner"].get("/api/v1/billing/subscription").json()
    assert body["plan"] == "pro" and body["cancel_at_period_end"] is True
    assert AuditEvent.objects.filter(action="subscription.cancelled", organization_id=organization.id).exists()
    # and turning it back on is refused, since Razorpay cannot take the cancellation back
    again = clients["owner"].put("/api/v1/billing/subscription/auto-renew", {"enabled": True}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"
