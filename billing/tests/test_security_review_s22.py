"""Security review s22 (attacker's view) of Razorpay one-off payments: the webhook and verify must only
apply facts about *our* payment (the one we created, for the amount and currency we asked for)."""

# The Razorpay fixtures are imported from billing.tests.razorpay_fake: test arguments share their names.
# ruff: noqa: F811

import pytest

from billing.models import Payment
from billing.tests.razorpay_fake import (  # noqa: F401 - fixtures
    deliver_razorpay,
    fake_razorpay,
    razorpay_server,
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
    organization, members, clients = team
    created = clients["owner"].post(URL, BODY, format="json").json()
    payment = Payment.objects.get(id=created["id"])
    return organization, clients, payment, fake_razorpay.get(payment.razorpay_order_id, "order")


def test_a_captured_payment_for_less_or_another_currency_does_not_settle_ours(pending, fake_razorpay, deliver_razorpay):
    # given: our 500.00 INR payment; Razorpay reports a capture on its order for 1.00 USD
    # (a partial-payment order, a payment made outside Checkout with our order id, a provider bug)
    organization, clients, payment, order = pending
    paid = fake_razorpay.pay_order(order["id"])
    paid.update(amount=100, currency="USD")

    # when
    deliver_razorpay(fake_razorpay.event("payment.captured", payment=paid))

    # then: the amount and currency the provider charged must be the ones we asked for
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING, "payment settled though Razorpay charged 1.00 USD for a 500.00 INR payment"


def test_a_refund_of_another_payment_on_the_same_order_does_not_refund_ours(pending, fake_razorpay, deliver_razorpay):
    # given: our payment settled by its captured Razorpay payment P1
    organization, clients, payment, order = pending
    p1 = fake_razorpay.pay_order(order["id"])
    deliver_razorpay(fake_razorpay.event("payment.captured", payment=p1, created_at=1_800_000_010))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED and payment.razorpay_payment_id == p1["id"]
    # a second payment P2 on the same order (a double submit, a late authorisation) is refunded in full
    p2 = {**p1, "id": "pay_second_attempt", "status": "refunded", "amount_refunded": p1["amount"], "refund_status": "full"}
    refund = {"id": "rfnd_p2", "entity": "refund", "amount": p1["amount"], "currency": "INR", "payment_id": p2["id"], "status": "processed"}

    # when
    deliver_razorpay(fake_razorpay.event("refund.processed", refund=refund, payment=p2, created_at=1_800_000_020))

    # then: P1's money was never refunded; our payment must stay succeeded and refundable
    payment.refresh_from_db()
    assert payment.amount_refunded == 0, "P2's refund was booked on our payment, whose own Razorpay payment is P1"
    assert payment.status == Payment.Status.SUCCEEDED
