"""Fixtures of the billing tests: the local Stripe fake, synced plans, signed webhook delivery."""

import io
import json

import pytest
import stripe
from django.core.management import call_command

from billing.tests.stripe_fake import FakeStripe, signature_header
from conftest import client_for

ROLES = ("owner", "admin", "member", "viewer")
SECRET_KEY = "sk_test_" + "FakeKey0123456789abcdefXYZ"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
WEBHOOK_URL = "/api/v1/billing/webhooks/stripe"


@pytest.fixture(scope="session")
def stripe_server():
    """One fake Stripe HTTP server (a thread on 127.0.0.1, free port) for the whole run."""
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_stripe(stripe_server, settings, monkeypatch) -> FakeStripe:
    """The fake, emptied, with the stripe library (so dj-stripe too) pointed at it."""
    stripe_server.reset()
    monkeypatch.setattr(stripe, "api_base", stripe_server.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return stripe_server


@pytest.fixture
def synced_plans(db, fake_stripe):
    """Paid plans with their Stripe Products and Prices (through `manage.py billing_sync_plans`)."""
    quiet = io.StringIO()
    # Seeded again: a transactional test's flush empties the table the data migration filled.
    call_command("billing_seed_plans", stdout=quiet)
    call_command("billing_sync_plans", stdout=quiet)
    from billing.models import Plan

    return {plan.code: plan for plan in Plan.objects.all()}


@pytest.fixture
def team(org_factory):
    """An org with one member per built-in role and a signed-in client for each."""
    organization, members = org_factory(roles=ROLES)
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients


def signed(event: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[str, str]:
    """The body and Stripe-Signature header Stripe would send."""
    body = json.dumps(event)
    return body, signature_header(body, secret, timestamp)


def post_event(client, event: dict, **signing):
    body, header = signed(event, **signing)
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


@pytest.fixture
def deliver(api_client, django_capture_on_commit_callbacks):
    """POST events to the webhook as Stripe does and run what they enqueue (the Celery task, eager)."""

    def send(*events, **signing):
        responses = []
        for event in events:
            with django_capture_on_commit_callbacks(execute=True):
                responses.append(post_event(api_client, event, **signing))
        return responses[0] if len(responses) == 1 else responses

    return send


def code_of(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def subscribe(fake_stripe, synced_plans, deliver):
    """Subscribe the client's org through checkout and Stripe's webhooks; return Stripe's subscription."""

    def run(client, plan: str = "pro", interval: str = "month") -> dict:
        response = client.post("/api/v1/billing/checkout", {"plan": plan, "interval": interval}, format="json")
        assert response.status_code == 200, response.content
        session, subscription = fake_stripe.checkout_complete(response.json()["session_id"])
        deliver(
            fake_stripe.event("checkout.session.completed", session, created=subscription["created"]),
            fake_stripe.event("customer.subscription.created", subscription, created=subscription["created"]),
        )
        return subscription

    return run
