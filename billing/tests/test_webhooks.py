"""The Stripe webhook: signature, durable storage before 2xx, exactly-once, ordering, retries."""

import time

import pytest
from djstripe import models as dj

from audit.models import AuditEvent
from billing import webhooks
from billing.models import Subscription, WebhookEvent
from billing.tests.conftest import WEBHOOK_URL, code_of, post_event, signed
from billing.tests.stripe_fake import StripeFailure

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(team, subscribe):
    organization, members, clients = team
    subscription = subscribe(clients["owner"])
    return organization, clients["owner"], subscription


# --- authentication by signature ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "whsec_someone_else"},
        {"timestamp": int(time.time()) - 3600},  # a replay outside Stripe's 5-minute tolerance
    ],
    ids=["wrong-secret", "stale-timestamp"],
)
def test_a_badly_signed_event_is_refused_and_not_stored(api_client, fake_stripe, signing):
    event = fake_stripe.event("customer.subscription.updated", {"id": "sub_x", "object": "subscription"})

    response = post_event(api_client, event, **signing)

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert not WebhookEvent.objects.exists()


def test_missing_or_garbled_signature_header_is_refused(api_client, fake_stripe):
    body, _ = signed(fake_stripe.event("invoice.paid", {"id": "in_x", "object": "invoice"}))

    missing = api_client.post(WEBHOOK_URL, data=body, content_type="application/json")
    garbled = api_client.post(WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=00")

    assert missing.status_code == 400 and garbled.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_without_a_configured_secret_the_webhook_answers_503_so_stripe_retries(api_client, fake_stripe, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = post_event(api_client, fake_stripe.event("invoice.paid", {"id": "in_x", "object": "invoice"}))

    assert response.status_code == 503 and code_of(response) == "SERVICE_UNAVAILABLE"


def test_the_webhook_needs_no_auth_ignores_tokens_and_is_never_throttled(api_client, fake_stripe, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/min"}}
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    statuses = [post_event(api_client, fake_stripe.event("ping.test", {"id": f"x{i}", "object": "thing"})).status_code for i in range(3)]

    assert statuses == [200, 200, 200]


def test_the_event_is_stored_before_the_answer_even_when_processing_fails(api_client, fake_stripe, subscribed, django_capture_on_commit_callbacks):
    organization, owner, subscription = subscribed
    event = fake_stripe.event(
        "checkout.session.completed",
        {
            "id": "cs_other",
            "object": "checkout.session",
            "mode": "subscription",
            "customer": subscription["customer"],
            "subscription": subscription["id"],
        },
        created=subscription["created"] + 10,
    )
    fake_stripe.fail_next = StripeFailure(500, "Stripe is down", kind="api_error", code="")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(api_client, event)

    # Answered 2xx: the event is safe; its processing failed and is left for the task's retries.
    assert response.status_code == 200
    stored = WebhookEvent.objects.get(stripe_event_id=event["id"])
    assert stored.status == "failed" and stored.attempts >= 1 and "unavailable" in stored.last_error.lower()

    webhooks.webhook_event_process(webhook_event_id=stored.id)  # the next retry, Stripe reachable again
    stored.refresh_from_db()
    assert stored.status == "processed" and stored.last_error == ""


# --- exactly once ------------------------------------------------------------------------------------------


def test_a_duplicate_delivery_is_acknowledged_and_changes_nothing(fake_stripe, subscribed, deliver):
    organization, owner, subscription = subscribed
    invoice = fake_stripe.invoice_create(subscription_id=subscription["id"], paid=False)
    event = fake_stripe.event("invoice.payment_failed", invoice, created=subscription["created"] + 50)

    first, second, third = deliver(event, event, event)

    assert [r.json()["duplicate"] for r in (first, second, third)] == [False, True, True]
    assert WebhookEvent.objects.filter(stripe_event_id=event["id"]).count() == 1
    assert AuditEvent.objects.filter(action="invoice.payment_failed").count() == 1


def test_processing_a_processed_event_again_is_a_no_op(fake_stripe, subscribed, deliver):
    organization, owner, subscription = subscribed
    event = WebhookEvent.objects.get(type="customer.subscription.created")
    audit_before = AuditEvent.objects.count()

    again = webhooks.webhook_event_process(webhook_event_id=event.id)

    assert again.status == "processed" and again.attempts == 1
    assert AuditEvent.objects.count() == audit_before


# --- ordering ------------------------------------------------------------------------------------------------


def test_an_older_event_never_overwrites_newer_state(fake_stripe, subscribed, deliver, synced_plans):
    organization, owner, subscription = subscribed
    t0 = subscription["created"]
    team_price = synced_plans["team"].stripe_price_month_id
    newer = fake_stripe.subscription_update(subscription["id"], cancel_at_period_end=True)
    newer["items"]["data"][0]["price"] = fake_stripe.get(team_price)
    older = dict(newer, cancel_at_period_end=False, status="past_due")
    older["items"] = {**newer["items"], "data": [{**newer["items"]["data"][0], "price": fake_stripe.get(synced_plans["pro"].stripe_price_month_id)}]}

    deliver(fake_stripe.event("customer.subscription.updated", newer, created=t0 + 20))
    late = deliver(fake_stripe.event("customer.subscription.updated", older, created=t0 + 10))

    assert late.status_code == 200
    account = Subscription.objects.get(organization=organization)
    assert account.plan.code == "team" and account.status == "active" and account.cancel_at_period_end is True
    skipped = WebhookEvent.objects.get(event_created__lt=account.stripe_state_at, type="customer.subscription.updated")
    assert skipped.status == "ignored" and skipped.note.startswith("stale")
    # dj-stripe's copy was not rolled back either.
    assert dj.Subscription.objects.get(id=subscription["id"]).stripe_data["cancel_at_period_end"] is True


def test_an_older_invoice_event_does_not_overwrite_a_newer_one(fake_stripe, subscribed, deliver):
    organization, owner, subscription = subscribed
    invoice = fake_stripe.invoice_create(subscription_id=subscription["id"], paid=False)
    paid = {**invoice, "status": "paid", "amount_paid": invoice["amount_due"], "amount_remaining": 0}

    deliver(fake_stripe.event("invoice.paid", paid, created=subscription["created"] + 30))
    deliver(fake_stripe.event("invoice.finalized", invoice, created=subscription["created"] + 20))

    assert dj.Invoice.objects.get(id=invoice["id"]).stripe_data["status"] == "paid"


def test_deleting_an_old_subscription_does_not_downgrade_the_current_one(fake_stripe, subscribed, deliver):
    organization, owner, subscription = subscribed
    stale_sub = {**subscription, "id": "sub_previous", "status": "canceled"}

    deliver(fake_stripe.event("customer.subscription.deleted", stale_sub, created=subscription["created"] + 60))

    account = Subscription.objects.get(organization=organization)
    assert account.plan.code == "pro" and account.stripe_subscription_id == subscription["id"]
    assert WebhookEvent.objects.get(type="customer.subscription.deleted").note.startswith("ignored")


def test_subscription_created_before_checkout_completed_arrives_is_applied_from_the_customer(fake_stripe, team, synced_plans, deliver):
    organization, members, clients = team
    body = clients["owner"].post("/api/v1/billing/checkout", {"plan": "team", "interval": "year"}, format="json").json()
    session, subscription = fake_stripe.checkout_complete(body["session_id"])

    deliver(fake_stripe.event("customer.subscription.created", subscription, created=subscription["created"]))

    account = Subscription.objects.get(organization=organization)
    assert account.plan.code == "team" and account.interval == "year" and account.seats == 4
    deliver(fake_stripe.event("checkout.session.completed", session, created=subscription["created"]))
    assert WebhookEvent.objects.filter(status="processed").count() == 2


# --- what is not ours ----------------------------------------------------------------------------------------------


def test_events_of_unknown_customers_and_unhandled_types_are_ignored(fake_stripe, deliver, db):
    stranger = fake_stripe.event("invoice.paid", {"id": "in_stranger", "object": "invoice", "customer": "cus_nobody"})
    unhandled = fake_stripe.event("radar.early_fraud_warning.created", {"id": "issfr_1", "object": "radar.early_fraud_warning"})

    responses = deliver(stranger, unhandled)

    assert [r.status_code for r in responses] == [200, 200]
    notes = dict(WebhookEvent.objects.values_list("stripe_event_id", "note"))
    assert notes[stranger["id"]] == "ignored: no organization for this object"
    assert notes[unhandled["id"]] == "ignored: event type not handled"
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"ignored"}


def test_payment_method_events_keep_dj_stripe_in_sync(fake_stripe, subscribed, deliver):
    organization, owner, subscription = subscribed
    pm = fake_stripe.payment_method_create(brand="mastercard", last4="4444")
    attached = {**pm, "customer": subscription["customer"]}

    deliver(fake_stripe.event("payment_method.attached", attached, created=subscription["created"] + 5))
    listed = owner.get("/api/v1/billing/payment-methods").json()["data"]
    deliver(fake_stripe.event("payment_method.detached", {**pm, "customer": None}, created=subscription["created"] + 6))

    assert [m["last4"] for m in listed] == ["4444"]
    assert owner.get("/api/v1/billing/payment-methods").json()["data"] == []
