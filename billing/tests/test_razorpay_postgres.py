"""PostgreSQL only: the same Razorpay event delivered (and processed) concurrently is applied once."""

# The Razorpay fixtures are imported from billing.tests.razorpay_fake: test arguments share their names.
# ruff: noqa: F811

from datetime import UTC, datetime

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEvent
from billing import razorpay_webhooks
from billing.models import Payment, RazorpayWebhookEvent
from billing.services.oneoff import payment_create
from billing.tests.razorpay_fake import fake_razorpay, post_razorpay, razorpay_server  # noqa: F401 - fixtures
from core.actor import Actor
from core.testing import run_together
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def paid(fake_razorpay, settings):
    """A Razorpay one-off payment whose order was paid at Razorpay, not yet known here."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks and concurrent transactions)")
    settings.FRONTEND_URL = "https://app.example.test"
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, role="owner")
    payment = payment_create(
        organization=organization,
        amount=25000,
        currency="inr",
        description="Concurrent",
        success_url=None,
        cancel_url=None,
        provider="razorpay",
        actor=Actor.system(),
    )
    return payment, fake_razorpay.pay_order(payment.razorpay_order_id)


def test_concurrent_duplicate_deliveries_store_and_apply_the_event_once(paid, fake_razorpay):
    payment, captured = paid
    event = fake_razorpay.event("payment.captured", payment=captured)

    # Each thread is one delivery (same X-Razorpay-Event-Id): its own connection and transaction;
    # the task runs eagerly right after that transaction commits.
    responses = run_together(8, lambda i: post_razorpay(APIClient(), event, event_id="evt_concurrent"))

    assert [getattr(r, "status_code", r) for r in responses] == [200] * 8
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 7
    stored = RazorpayWebhookEvent.objects.get(event_id="evt_concurrent")
    assert stored.status == "processed" and stored.attempts == 1
    assert Payment.objects.get(id=payment.id).status == "succeeded"
    assert AuditEvent.objects.filter(action="payment.succeeded", target_id=str(payment.id)).count() == 1


def test_concurrent_workers_processing_one_event_apply_it_once(paid, fake_razorpay):
    payment, captured = paid
    event = fake_razorpay.event("payment.captured", payment=captured)
    stored = RazorpayWebhookEvent.objects.create(
        event_id="evt_workers",
        type=event["event"],
        entity_type="payment",
        entity_id=captured["id"],
        event_created=datetime.fromtimestamp(event["created_at"], tz=UTC),
        payload=event,
    )

    results = run_together(6, lambda i: razorpay_webhooks.razorpay_event_process(event_id=stored.id).attempts)

    assert results == [1] * 6
    assert AuditEvent.objects.filter(action="payment.succeeded", target_id=str(payment.id)).count() == 1


def test_two_different_events_settling_one_payment_concurrently_settle_it_once(paid, fake_razorpay):
    payment, captured = paid
    events = [fake_razorpay.event("payment.captured", payment=captured) for _ in range(2)]

    run_together(2, lambda i: post_razorpay(APIClient(), events[i], event_id=f"evt_pair_{i}"))

    assert Payment.objects.get(id=payment.id).status == "succeeded"
    assert AuditEvent.objects.filter(action="payment.succeeded", target_id=str(payment.id)).count() == 1
