"""The whole life of a subscription through the API, the Stripe fake and signed webhooks."""

import jwt
import pytest

from audit.models import AuditEvent
from billing.models import Subscription, WebhookEvent
from billing.tests.conftest import code_of
from conftest import client_for
from notifications import services as notification_services

pytestmark = pytest.mark.django_db

SUBSCRIPTION = "/api/v1/billing/subscription"


def invite(client, organization, email):
    return client.post(f"/api/v1/orgs/{organization.id}/invites", {"email": email, "role": "member"}, format="json")


def claims(client) -> dict:
    return jwt.decode(client.tokens["access_token"], options={"verify_signature": False})


def test_free_to_pro_to_team_to_past_due_to_cancelled_back_to_free(team, synced_plans, fake_stripe, deliver, monkeypatch):
    organization, members, clients = team
    owner = clients["owner"]
    notified = []
    monkeypatch.setattr(notification_services, "notify", lambda **kwargs: notified.append(kwargs))

    # given a free org with 4 members: a 5th seat fits, the 6th is refused (the contract's example)
    assert owner.get(SUBSCRIPTION).json()["plan"] == "free"
    assert claims(owner)["plan"] == "free" and claims(owner)["features"]["custom_slug"] is False
    assert invite(owner, organization, "fifth@example.com").status_code == 201
    refused = invite(owner, organization, "sixth@example.com")
    assert refused.status_code == 402 and code_of(refused) == "PLAN_LIMIT_REACHED"

    # when the owner checks out the pro plan and Stripe reports the payment
    checkout = owner.post("/api/v1/billing/checkout", {"plan": "pro", "interval": "month"}, format="json")
    assert checkout.status_code == 200, checkout.content
    body = checkout.json()
    assert body["checkout_url"].startswith("https://checkout.stripe.test/") and body["session_id"].startswith("cs_test_")
    session, subscription = fake_stripe.checkout_complete(body["session_id"])
    start = subscription["created"]
    responses = deliver(
        fake_stripe.event("checkout.session.completed", session, created=start),
        fake_stripe.event("customer.subscription.created", subscription, created=start),
    )
    assert [r.status_code for r in responses] == [200, 200]

    # then the org is on pro, with pro's limits, and new tokens say so
    state = owner.get(SUBSCRIPTION).json()
    assert state["plan"] == "pro" and state["status"] == "active" and state["provider"] == "stripe"
    assert state["interval"] == "month" and state["current_period_end"] and state["cancel_at_period_end"] is False
    usage = owner.get("/api/v1/billing/usage").json()
    assert usage["members"] == {"used": 5, "limit": 25}
    assert invite(owner, organization, "sixth@example.com").status_code == 201
    fresh = client_for(members["owner"].user, organization)
    assert claims(fresh)["plan"] == "pro" and claims(fresh)["features"]["custom_slug"] is True
    assert WebhookEvent.objects.filter(status="processed").count() == 2

    # when the plan changes to team (per seat): prorated at Stripe, quantity = active members
    changed = owner.post("/api/v1/billing/subscription/change-plan", {"plan": "team"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["plan"] == "team" and changed.json()["seats"] == 4
    modify = fake_stripe.calls("POST", f"/v1/subscriptions/{subscription['id']}")[-1]
    assert modify["proration_behavior"] == "create_prorations" and modify["items"][0]["quantity"] == "4"
    assert AuditEvent.objects.filter(action="subscription.changed", actor_id=members["owner"].user_id).exists()

    # when a renewal payment fails
    failed_invoice = fake_stripe.invoice_create(subscription_id=subscription["id"], paid=False)
    past_due = fake_stripe.subscription_update(subscription["id"], status="past_due")
    deliver(
        fake_stripe.event("invoice.payment_failed", failed_invoice, created=start + 100),
        fake_stripe.event("customer.subscription.updated", past_due, created=start + 100),
    )

    # then the owner is notified and it is audited; the plan holds while Stripe retries
    failures = [n for n in notified if n["event"] == "payment_failed"]
    assert [(n["user"], n["organization"]) for n in failures] == [(members["owner"].user, organization)]
    assert failures[0]["context"]["invoice_id"] == failed_invoice["id"]
    # Every plan move so far (free → pro → team) was announced to the owner too.
    assert [n["context"]["plan"] for n in notified if n["event"] == "subscription_changed"] == ["pro", "team"]
    assert AuditEvent.objects.filter(action="invoice.payment_failed", organization_id=organization.id).count() == 1
    state = owner.get(SUBSCRIPTION).json()
    assert state["plan"] == "team" and state["status"] == "past_due"

    # when the owner cancels at the end of the period
    cancelled = owner.post("/api/v1/billing/subscription/cancel", {}, format="json")
    assert cancelled.status_code == 200
    assert cancelled.json()["cancel_at_period_end"] is True and cancelled.json()["plan"] == "team"

    # and the period ends: Stripe deletes the subscription
    ended = fake_stripe.subscription_update(subscription["id"], status="canceled", ended_at=start + 200)
    deliver(fake_stripe.event("customer.subscription.deleted", ended, created=start + 200))

    # then the org is back on free: limits lowered, existing data kept, new creations refused
    state = owner.get(SUBSCRIPTION).json()
    assert state["plan"] == "free" and state["status"] == "canceled"
    usage = owner.get("/api/v1/billing/usage").json()
    assert usage["members"] == {"used": 6, "limit": 5}
    refused = invite(owner, organization, "seventh@example.com")
    assert refused.status_code == 402 and code_of(refused) == "PLAN_LIMIT_REACHED"
    assert Subscription.objects.get(organization=organization).plan.code == "free"
    fresh = client_for(members["owner"].user, organization)
    assert claims(fresh)["plan"] == "free"
    assert AuditEvent.objects.filter(action="subscription.changed", organization_id=organization.id, actor_id=None).exists()


def test_plan_changes_notify_the_owner(monkeypatch, org_factory, django_capture_on_commit_callbacks):
    from billing.models import Subscription
    from billing.services.plans import plans_seed
    from billing.services.state import subscription_change_record, subscription_snapshot
    from core.actor import Actor

    plans_seed()
    organization, members = org_factory(roles=("owner", "member"))
    calls = []
    monkeypatch.setattr(notification_services, "notify", lambda **kwargs: calls.append(kwargs))
    account, _ = Subscription.objects.get_or_create(
        organization=organization, defaults={"plan": __import__("billing.models", fromlist=["Plan"]).Plan.objects.get(code="free")}
    )
    old = subscription_snapshot(account)
    account.plan = type(account.plan).objects.get(code="pro")
    account.status = "active"
    with django_capture_on_commit_callbacks(execute=True):
        subscription_change_record(account=account, old=old, actor=Actor.system())
    assert len(calls) == 1
    call = calls[0]
    assert call["event"] == "subscription_changed" and call["user"] == members["owner"].user
    assert call["context"]["plan"] == "pro" and call["context"]["previous_plan"] == "free"
