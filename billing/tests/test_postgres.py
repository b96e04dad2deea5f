"""PostgreSQL only: the same Stripe event delivered (and processed) concurrently is applied once."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from audit.models import AuditEvent
from billing import webhooks
from billing.models import Subscription, WebhookEvent
from billing.services.customers import account_for_update, customer_ensure
from billing.tests.conftest import post_event
from core.actor import Actor
from core.testing import run_together
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks and concurrent transactions)")


@pytest.fixture
def subscribed_org(postgres, fake_stripe, synced_plans):
    """An org with its Stripe customer, whose pro subscription exists at Stripe but is not yet known here."""
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, role="owner")
    with transaction.atomic():
        account = account_for_update(organization=organization)
        customer_ensure(account=account, actor=Actor.system())
    customer = Subscription.objects.get(organization=organization).stripe_customer_id
    session = fake_stripe._api_create_checkout_session(
        {
            "mode": "subscription",
            "customer": customer,
            "success_url": "https://app.example.test/ok",
            "line_items": [{"price": synced_plans["pro"].stripe_price_month_id, "quantity": "1"}],
            "subscription_data": {"metadata": {"organization_id": str(organization.id)}},
        }
    )
    _, subscription = fake_stripe.checkout_complete(session["id"])
    return organization, subscription


def test_concurrent_duplicate_deliveries_store_and_apply_the_event_once(subscribed_org, fake_stripe):
    organization, subscription = subscribed_org
    event = fake_stripe.event("customer.subscription.created", subscription)

    # Each thread is one delivery: its own connection, its own request transaction; the task
    # runs eagerly right after that transaction commits (as a worker would pick it up).
    responses = run_together(8, lambda i: post_event(APIClient(), event))

    assert [getattr(r, "status_code", r) for r in responses] == [200] * 8
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 7
    stored = WebhookEvent.objects.get(stripe_event_id=event["id"])
    assert stored.status == "processed" and stored.attempts == 1
    assert Subscription.objects.get(organization=organization).plan.code == "pro"
    assert AuditEvent.objects.filter(action="subscription.changed", organization_id=organization.id).count() == 1


def test_concurrent_workers_processing_one_event_apply_it_once(subscribed_org, fake_stripe):
    organization, subscription = subscribed_org
    event = fake_stripe.event("customer.subscription.created", subscription)
    # Stored as the endpoint would, without running the task yet.
    stored = WebhookEvent.objects.create(
        stripe_event_id=event["id"],
        type=event["type"],
        object_type="subscription",
        object_id=subscription["id"],
        event_created=datetime.fromtimestamp(event["created"], tz=UTC),
        payload=event,
    )

    results = run_together(6, lambda i: webhooks.webhook_event_process(webhook_event_id=stored.id).attempts)

    assert results == [1] * 6  # every worker saw the one application
    assert AuditEvent.objects.filter(action="subscription.changed", organization_id=organization.id).count() == 1
