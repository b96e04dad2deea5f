"""Razorpay's webhook: signature, durable storage before 2xx, exactly once, in order; one-off payments
settled and refunded through it, verify and reconcile reading Razorpay through the real SDK."""

# The Razorpay fixtures are imported from billing.tests.razorpay_fake: test arguments share their names.
# ruff: noqa: F811

import io
import json

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from billing import razorpay_webhooks
from billing.models import Payment, RazorpayWebhookEvent
from billing.tests.conftest import code_of
from billing.tests.razorpay_fake import (  # noqa: F401 - fixtures
    WEBHOOK_URL,
    RazorpayFailure,
    deliver_razorpay,
    fake_razorpay,
    post_razorpay,
    razorpay_server,
    signature,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/payments"
BODY = {
    "amount": 50000,
    "currency": "inr",
    "description": "Setup fee",
    "success_url": "https://app.example.test/billing/paid",
    "cancel_url": "https://app.example.test/billing",
    "provider": "razorpay",
}


@pytest.fixture
def pending(team, fake_razorpay):
    """A Razorpay one-off payment the owner started: (organization, clients, payment, order)."""
    organization, members, clients = team
    created = clients["owner"].post(URL, BODY, format="json").json()
    payment = Payment.objects.get(id=created["id"])
    return organization, clients, payment, fake_razorpay.get(payment.razorpay_order_id, "order")


# --- authentication by signature --------------------------------------------------------------------------------


def test_a_badly_signed_or_unsigned_event_is_refused_and_not_stored(api_client, fake_razorpay):
    event = fake_razorpay.event("payment.captured", payment={"id": "pay_x", "order_id": "order_x"})

    wrong = post_razorpay(api_client, event, secret="someone_else")
    unsigned = post_razorpay(api_client, event, sign=False)
    tampered = api_client.post(
        WEBHOOK_URL,
        data=json.dumps({**event, "event": "refund.processed"}),
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=signature(json.dumps(event)),
        HTTP_X_RAZORPAY_EVENT_ID="evt_1",
    )

    assert [r.status_code for r in (wrong, unsigned, tampered)] == [400, 400, 400]
    assert code_of(wrong) == "VALIDATION_ERROR"
    assert not RazorpayWebhookEvent.objects.exists()


def test_a_signed_event_without_an_event_id_is_refused(api_client, fake_razorpay):
    body = json.dumps(fake_razorpay.event("payment.captured", payment={"id": "pay_x"}))

    response = api_client.post(WEBHOOK_URL, data=body, content_type="application/json", HTTP_X_RAZORPAY_SIGNATURE=signature(body))

    assert response.status_code == 400 and not RazorpayWebhookEvent.objects.exists()


def test_without_a_configured_secret_the_webhook_answers_503(api_client, fake_razorpay, settings):
    settings.RAZORPAY_WEBHOOK_SECRET = ""

    response = post_razorpay(api_client, fake_razorpay.event("payment.captured", payment={"id": "pay_x"}))

    assert response.status_code == 503 and code_of(response) == "SERVICE_UNAVAILABLE"


def test_the_webhook_ignores_tokens_and_unhandled_events_are_stored_as_ignored(api_client, fake_razorpay, deliver_razorpay):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = deliver_razorpay(fake_razorpay.event("order.paid", order={"id": "order_x"}))

    assert response.status_code == 200
    assert RazorpayWebhookEvent.objects.get().note == "ignored: event type not handled"


# --- one-off payments settled exactly once -------------------------------------------------------------------------


def test_payment_captured_settles_the_payment_once_even_when_delivered_again(pending, fake_razorpay, deliver_razorpay):
    organization, clients, payment, order = pending
    paid = fake_razorpay.pay_order(order["id"])
    event = fake_razorpay.event("payment.captured", payment=paid)

    responses = deliver_razorpay((event, "evt_same"), (event, "evt_same"), (event, "evt_same"))

    assert [r.json()["duplicate"] for r in responses] == [False, True, True]
    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.razorpay_payment_id == paid["id"] and payment.settled_at
    assert RazorpayWebhookEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action="payment.succeeded", target_id=str(payment.id)).count() == 1


def test_processing_a_processed_event_again_is_a_no_op(pending, fake_razorpay, deliver_razorpay):
    organization, clients, payment, order = pending
    deliver_razorpay(fake_razorpay.event("payment.captured", payment=fake_razorpay.pay_order(order["id"])))
    stored = RazorpayWebhookEvent.objects.get()
    audit_before = AuditEvent.objects.count()

    again = razorpay_webhooks.razorpay_event_process(event_id=stored.id)

    assert again.status == "processed" and again.attempts == 1 and AuditEvent.objects.count() == audit_before


def test_a_failed_attempt_then_a_captured_retry_succeeds_whatever_the_delivery_order(pending, fake_razorpay, deliver_razorpay):
    organization, clients, payment, order = pending
    failed = fake_razorpay.pay_order(order["id"], captured=False)
    captured = fake_razorpay.pay_order(order["id"])

    deliver_razorpay(fake_razorpay.event("payment.captured", payment=captured, created_at=1_800_000_020))
    deliver_razorpay(fake_razorpay.event("payment.failed", payment=failed, created_at=1_800_000_010))

    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.razorpay_payment_id == captured["id"]


def test_a_failed_payment_is_failed_with_its_reason(pending, fake_razorpay, deliver_razorpay):
    organization, clients, payment, order = pending

    deliver_razorpay(fake_razorpay.event("payment.failed", payment=fake_razorpay.pay_order(order["id"], captured=False)))

    payment.refresh_from_db()
    assert payment.status == "failed" and "declined" in payment.failure_reason


def test_an_older_event_arriving_after_a_refund_does_not_undo_it(pending, fake_razorpay, deliver_razorpay):
    organization, clients, payment, order = pending
    captured = fake_razorpay.pay_order(order["id"])
    refund = fake_razorpay._api_refund_payment({"amount": 50000}, captured["id"])
    refunded_payment = fake_razorpay.get(captured["id"], "payment")

    deliver_razorpay(fake_razorpay.event("refund.processed", refund=refund, payment=refunded_payment, created_at=1_800_000_050))
    late = deliver_razorpay(fake_razorpay.event("payment.captured", payment=captured, created_at=1_800_000_010))

    assert late.status_code == 200
    payment.refresh_from_db()
    assert payment.status == "refunded" and payment.amount_refunded == 50000
    assert RazorpayWebhookEvent.objects.get(type="payment.captured").note.startswith("stale")


def test_a_refund_made_here_is_not_counted_again_by_its_webhook(pending, fake_razorpay, deliver_razorpay):
    organization, clients, payment, order = pending
    captured = fake_razorpay.pay_order(order["id"])
    deliver_razorpay(fake_razorpay.event("payment.captured", payment=captured))

    response = clients["owner"].post(f"{URL}/{payment.id}/refund", {"amount": 20000}, format="json")
    refund = next(o for o in fake_razorpay.objects.values() if o.get("entity") == "refund")
    deliver_razorpay(fake_razorpay.event("refund.processed", refund=refund, payment=fake_razorpay.get(captured["id"], "payment")))

    assert response.status_code == 200 and response.json()["amount_refunded"] == 20000
    payment.refresh_from_db()
    assert payment.amount_refunded == 20000 and payment.status == "succeeded"


def test_events_about_payments_that_are_not_ours_are_ignored(fake_razorpay, deliver_razorpay, db):
    stranger = {"id": "pay_stranger", "entity": "payment", "order_id": "order_nobody", "status": "captured", "amount": 100}

    deliver_razorpay(fake_razorpay.event("payment.captured", payment=stranger))

    assert RazorpayWebhookEvent.objects.get().note == "ignored: not a one-off payment of ours"


def test_processing_failure_is_recorded_and_retried(pending, fake_razorpay, django_capture_on_commit_callbacks, api_client):
    organization, clients, payment, order = pending
    captured = fake_razorpay.pay_order(order["id"])
    refund = fake_razorpay._api_refund_payment({"amount": 1000}, captured["id"])
    payment.razorpay_payment_id = captured["id"]
    payment.save()
    fake_razorpay.fail_next = RazorpayFailure(500, "down", code="SERVER_ERROR")

    # A refund event without its payment entity makes us read the payment at Razorpay: down.
    with django_capture_on_commit_callbacks(execute=True):
        response = post_razorpay(api_client, fake_razorpay.event("refund.processed", refund=refund))

    assert response.status_code == 200
    stored = RazorpayWebhookEvent.objects.get()
    assert stored.status == "failed" and stored.attempts == 1
    razorpay_webhooks.razorpay_event_process(event_id=stored.id)
    stored.refresh_from_db()
    payment.refresh_from_db()
    assert stored.status == "processed" and payment.amount_refunded == 1000


# --- verify, refund through the API, reconcile -----------------------------------------------------------------------


def test_verify_reads_the_order_at_razorpay(pending, fake_razorpay):
    organization, clients, payment, order = pending
    fake_razorpay.pay_order(order["id"])

    response = clients["owner"].post(f"{URL}/{payment.id}/verify")

    assert response.status_code == 200 and response.json()["status"] == "succeeded" and response.json()["provider"] == "razorpay"


def test_refund_through_the_api_and_its_errors(pending, fake_razorpay, deliver_razorpay):
    organization, clients, payment, order = pending
    deliver_razorpay(fake_razorpay.event("payment.captured", payment=fake_razorpay.pay_order(order["id"])))

    too_much = clients["owner"].post(f"{URL}/{payment.id}/refund", {"amount": 50001}, format="json")
    by_admin = clients["admin"].post(f"{URL}/{payment.id}/refund", {}, format="json")
    full = clients["owner"].post(f"{URL}/{payment.id}/refund", {}, format="json")

    assert too_much.status_code == 400 and "amount" in too_much.json()["error"]["details"]
    assert by_admin.status_code == 403
    assert full.status_code == 200 and full.json()["status"] == "refunded"
    assert AuditEvent.objects.filter(action="payment.refunded", target_id=str(payment.id)).count() == 1


def test_reconcile_settles_a_pending_payment_whose_webhook_never_came(pending, fake_razorpay):
    organization, clients, payment, order = pending
    fake_razorpay.pay_order(order["id"])
    out = io.StringIO()

    call_command("billing_reconcile", "--dry-run", stdout=out, stderr=out)
    payment.refresh_from_db()
    assert payment.status == "pending" and "would repair" in out.getvalue()
    call_command("billing_reconcile", stdout=out, stderr=out)

    payment.refresh_from_db()
    assert payment.status == "succeeded" and "1 pending payments checked, 1 drifted" in out.getvalue()
