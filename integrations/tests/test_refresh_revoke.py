"""Refresh (API and beat) and revoke, against the local fake provider."""

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from core import clock
from core.actor import Actor
from integrations import selectors, services, tasks, vault
from integrations.models import Integration, IntegrationLog
from integrations.providers import provider_get
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def connected(organization, fake, *, key="gmail", expires_in=3600, refreshed_ago=timedelta(0)):
    """An OAuth integration holding a real token pair of the fake provider."""
    tokens = fake.mint()
    integration, _ = services.integration_connect(
        organization=organization,
        provider=provider_get(key),
        type="oauth",
        credentials={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]},
        expires_at=clock.now() + timedelta(seconds=expires_in),
        actor=Actor.system(),
    )
    if refreshed_ago:
        Integration.objects.filter(pk=integration.pk).update(last_refreshed_at=clock.now() - refreshed_ago)
    return Integration.objects.get(pk=integration.pk)


def secrets_of(integration) -> dict:
    integration.refresh_from_db()
    return vault.unseal(organization=integration.organization, token=integration.secret)


# --- refresh through the API -------------------------------------------------------------------


def test_refresh_rotates_tokens_and_records_it(team, owner_client, fake_provider):
    organization = team[0]
    integration = connected(organization, fake_provider, expires_in=60)
    before = secrets_of(integration)

    response = owner_client.post("/api/v1/integrations/gmail/refresh")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["integration"] == "gmail" and body["expires_at"]
    after = secrets_of(integration)
    assert after["access_token"] != before["access_token"] and after["refresh_token"] != before["refresh_token"]
    assert after["refresh_token"] in fake_provider.refresh_tokens
    assert integration.expires_at > clock.now() + timedelta(minutes=50)
    assert IntegrationLog.objects.filter(integration=integration, action="REFRESH_SUCCESS").count() == 1
    assert AuditEvent.objects.filter(action="integration.refreshed", organization_id=organization.id).count() == 1
    assert after["access_token"] not in response.content.decode()


def test_invalid_grant_marks_error_notifies_admins_and_audits(team, owner_client, fake_provider, django_capture_on_commit_callbacks):
    organization, members, _ = team
    integration = connected(organization, fake_provider)
    fake_provider.refresh_tokens.clear()  # the user revoked our access at the provider

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/api/v1/integrations/gmail/refresh")

    assert response.status_code == 409
    assert response.json()["error"]["details"]["provider_error"] == "invalid_grant"
    integration.refresh_from_db()
    assert integration.status == "error" and "no longer accepts" in integration.last_error
    assert IntegrationLog.objects.filter(integration=integration, action="REFRESH_FAILED").exists()
    assert AuditEvent.objects.filter(action="integration.refresh_failed", organization_id=organization.id).exists()
    notified = set(Notification.objects.filter(event="integration_failed").values_list("user_id", flat=True))
    assert notified == {members["owner"].user_id, members["admin"].user_id}
    status = owner_client.get("/api/v1/integrations/gmail/status").json()
    assert status["status"] == "error"


def test_provider_timeout_is_503_and_the_failure_is_logged(team, owner_client, fake_provider):
    integration = connected(team[0], fake_provider)
    before = secrets_of(integration)
    fake_provider.fail_next = ["timeout"]

    response = owner_client.post("/api/v1/integrations/gmail/refresh")

    assert response.status_code == 503
    integration.refresh_from_db()
    assert integration.status == "active"  # a passing outage is no reason to give up
    assert secrets_of(integration) == before
    # The refresh view is non-atomic: the failure's log row outlives the error response.
    log = IntegrationLog.objects.get(integration=integration, action="REFRESH_FAILED")
    assert "did not answer in time" in log.message


def test_credentials_no_master_key_opens_are_503_not_500(team, owner_client, fake_provider, settings):
    from cryptography.fernet import Fernet

    connected(team[0], fake_provider)
    settings.INTEGRATIONS_MASTER_KEYS = [Fernet.generate_key().decode()]  # the old key was dropped too early

    response = owner_client.post("/api/v1/integrations/gmail/refresh")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_slack_style_ok_false_is_understood(team, owner_client, fake_provider):
    connected(team[0], fake_provider, key="slack")
    fake_provider.fail_next = ["slack_not_ok"]

    response = owner_client.post("/api/v1/integrations/slack/refresh")

    assert response.status_code == 409
    assert Integration.objects.get(key="slack").status == "error"


def test_api_key_integration_cannot_be_refreshed(team, owner_client, fake_provider):
    services.integration_connect(organization=team[0], provider=provider_get("sendgrid"), type="api_key", credentials={"api_key": "k"}, actor=Actor.system())

    response = owner_client.post("/api/v1/integrations/sendgrid/refresh")

    assert response.status_code == 409
    assert owner_client.post("/api/v1/integrations/gmail/refresh").status_code == 404


# --- revoke ------------------------------------------------------------------------------------


def test_revoke_at_provider_then_wipe(team, owner_client, fake_provider):
    organization = team[0]
    integration = connected(organization, fake_provider)
    refresh_token = secrets_of(integration)["refresh_token"]

    response = owner_client.post("/api/v1/integrations/gmail/revoke")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "message": "gmail revoked (also at the provider)"}
    assert fake_provider.revoked == [refresh_token]
    integration.refresh_from_db()
    assert integration.secret == "" and integration.status == "revoked" and integration.revoked_at is not None
    assert IntegrationLog.objects.filter(integration=integration, action="REVOKED").exists()
    assert AuditEvent.objects.filter(action="integration.revoked", organization_id=organization.id).exists()
    status = owner_client.get("/api/v1/integrations/gmail/status").json()
    assert status == {"integration": "gmail", "revoked": True, "expired": False, "status": "revoked"}
    listed = owner_client.get("/api/v1/integrations").json()["integrations"]
    assert listed[0]["revoked"] is True
    # A revoked integration no longer counts against the plan.
    assert selectors.connected_count(organization=organization) == 0


def test_revoke_wipes_even_when_the_provider_is_down(team, owner_client, settings, fake_provider):
    integration = connected(team[0], fake_provider)
    settings.INTEGRATIONS_PROVIDER_OVERRIDES = {"gmail": {**fake_provider.endpoints(), "revoke_url": "http://127.0.0.1:9/revoke"}}

    response = owner_client.post("/api/v1/integrations/gmail/revoke")

    assert response.status_code == 200
    assert response.json()["message"] == "gmail revoked"
    integration.refresh_from_db()
    assert integration.secret == "" and integration.status == "revoked"
    assert "could not revoke" in IntegrationLog.objects.get(integration=integration, action="REVOKED").message


def test_reconnecting_a_revoked_integration(team, owner_client, fake_provider):
    connected(team[0], fake_provider)
    owner_client.post("/api/v1/integrations/gmail/revoke")

    integration = connected(team[0], fake_provider)

    assert integration.status == "active" and integration.revoked_at is None
    assert secrets_of(integration)["access_token"]


# --- the beat ----------------------------------------------------------------------------------


@pytest.fixture
def eager_retries():
    """Let eager Celery run retries in-process, as a worker would (propagation re-raises Retry instead)."""
    from config.celery import app

    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = previous


def test_beat_refreshes_only_what_is_due(team, fake_provider):
    organization = team[0]
    expiring = connected(organization, fake_provider, key="gmail", expires_in=10 * 60)
    idle = connected(organization, fake_provider, key="slack", expires_in=6 * 3600, refreshed_ago=timedelta(hours=25))
    fresh = connected(organization, fake_provider, key="github", expires_in=6 * 3600)
    before = {i.key: secrets_of(i)["access_token"] for i in (expiring, idle, fresh)}

    result = tasks.refresh_due_integrations.delay().get()

    assert result == {"queued": 2, "expired": 0}
    after = {i.key: secrets_of(i)["access_token"] for i in (expiring, idle, fresh)}
    assert after["gmail"] != before["gmail"] and after["slack"] != before["slack"]
    assert after["github"] == before["github"]
    assert [c["grant_type"] for c in fake_provider.token_calls] == ["refresh_token", "refresh_token"]


def test_beat_retries_a_passing_outage_with_backoff_then_succeeds(team, fake_provider, monkeypatch, eager_retries):
    integration = connected(team[0], fake_provider, expires_in=60)
    fake_provider.fail_next = ["500", "timeout"]
    countdowns = []
    original_retry = tasks.refresh_integration.retry

    def spy_retry(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return original_retry(*args, **kwargs)

    monkeypatch.setattr(tasks.refresh_integration, "retry", spy_retry)

    tasks.refresh_due_integrations.delay()

    integration.refresh_from_db()
    assert integration.status == "active" and integration.expires_at > clock.now() + timedelta(minutes=50)
    assert len(countdowns) == 2
    actions = list(IntegrationLog.objects.filter(integration=integration).order_by("id").values_list("action", flat=True))
    assert actions == ["CONNECTED", "REFRESH_FAILED", "REFRESH_FAILED", "REFRESH_SUCCESS"]


def test_backoff_grows_exponentially(settings):
    from celery.utils.time import get_exponential_backoff_interval

    ceilings = [get_exponential_backoff_interval(factor=30, retries=n, maximum=900, full_jitter=False) for n in range(6)]

    assert ceilings == [30, 60, 120, 240, 480, 900]


def test_beat_gives_up_after_the_last_retry(team, fake_provider, settings, django_capture_on_commit_callbacks, eager_retries):
    organization, members, _ = team
    settings.INTEGRATIONS_REFRESH_MAX_RETRIES = 2
    integration = connected(organization, fake_provider, expires_in=60)
    fake_provider.fail_next = ["500"] * 3

    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_due_integrations.delay()

    integration.refresh_from_db()
    assert integration.status == "error"
    assert len(fake_provider.token_calls) == 3  # the first try and two retries
    assert IntegrationLog.objects.filter(integration=integration, action="REFRESH_FAILED").count() == 4
    assert AuditEvent.objects.filter(action="integration.refresh_failed", organization_id=organization.id).count() == 1
    assert Notification.objects.filter(event="integration_failed", user=members["owner"].user).exists()


def test_beat_expires_what_cannot_refresh(team, fake_provider):
    organization = team[0]
    services.integration_connect(
        organization=organization,
        provider=provider_get("openai"),
        type="api_key",
        credentials={"api_key": "k"},
        expires_at=clock.now() + timedelta(minutes=1),
        actor=Actor.system(),
    )
    Integration.objects.filter(key="openai").update(expires_at=clock.now() - timedelta(seconds=1))

    result = tasks.refresh_due_integrations.delay().get()

    assert result["expired"] == 1
    integration = Integration.objects.get(key="openai")
    assert integration.status == "expired"
    assert IntegrationLog.objects.filter(integration=integration, action="EXPIRED").exists()
    assert AuditEvent.objects.filter(action="integration.expired").exists()
    assert tasks.refresh_due_integrations.delay().get()["expired"] == 0  # logged once


def test_a_duplicate_refresh_message_finds_it_fresh_and_skips(team, fake_provider):
    integration = connected(team[0], fake_provider, expires_in=60)

    assert tasks.refresh_integration.delay(str(integration.id)).get() == "refreshed"
    assert tasks.refresh_integration.delay(str(integration.id)).get() == "skipped"

    assert len(fake_provider.token_calls) == 1
