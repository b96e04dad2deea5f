"""PostgreSQL only: workers racing on the same integrations refresh each one exactly once."""

from datetime import timedelta

import pytest
from django.db import connection

from core import clock
from core.actor import Actor
from core.testing import run_together
from integrations import services, tasks, vault
from integrations.models import Integration, IntegrationLog
from integrations.providers import provider_get
from organizations.tests.factories import OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks and concurrent transactions)")


def _connected(organization, fake, key):
    tokens = fake.mint()
    integration, _ = services.integration_connect(
        organization=organization,
        provider=provider_get(key),
        type="oauth",
        credentials={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]},
        expires_at=clock.now() + timedelta(minutes=5),
        actor=Actor.system(),
    )
    return integration


def test_two_workers_never_refresh_the_same_integration(fake_provider, unlimited_plan):
    organization = OrganizationFactory()
    integration = _connected(organization, fake_provider, "gmail")
    fake_provider.delay = 0.3  # the first refresh holds the row while the others arrive

    results = run_together(4, lambda i: tasks.refresh_integration.apply(args=(str(integration.id),)).get())

    assert sorted(results) == ["refreshed", "skipped", "skipped", "skipped"], results
    assert len(fake_provider.token_calls) == 1  # the rotating refresh token was spent once
    integration.refresh_from_db()
    assert integration.status == "active"
    credentials = vault.unseal(organization=organization, token=integration.secret)
    assert credentials["refresh_token"] in fake_provider.refresh_tokens
    assert IntegrationLog.objects.filter(integration=integration, action="REFRESH_SUCCESS").count() == 1


def test_two_beat_runs_at_once_refresh_everything_once(fake_provider, unlimited_plan):
    organization = OrganizationFactory()
    integrations = [_connected(organization, fake_provider, key) for key in ("gmail", "google_drive", "slack", "github")]
    fake_provider.delay = 0.05

    run_together(2, lambda i: tasks.refresh_due_integrations.apply().get())

    assert len(fake_provider.token_calls) == len(integrations)
    for integration in integrations:
        integration.refresh_from_db()
        assert integration.status == "active"
        assert integration.expires_at > clock.now() + timedelta(minutes=50)


def test_concurrent_connects_respect_the_plan_limit(monkeypatch):
    from core import entitlements

    organization = OrganizationFactory()
    limit_two = lambda organization, name: 2 if name == "max_integrations" else None  # noqa: E731
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", limit_two)
    keys = ["github", "sendgrid", "openai", "github"]

    results = run_together(
        4,
        lambda i: services.integration_connect(
            organization=organization, provider=provider_get(keys[i]), type="api_key", credentials={"api_key": f"k{i}"}, actor=Actor.system()
        ),
    )

    # The org row lock serialises them: at most two distinct integrations, the rest refused with 402.
    assert Integration.objects.filter(organization=organization).count() == 2
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(getattr(r, "status_code", None) == 402 for r in refused), results
