"""Connect with supplied credentials, list, status, logs, permissions, plan limit, secrecy."""

import base64
import json
from datetime import timedelta

import pytest

from audit.models import AuditEvent
from conftest import client_for
from core import clock
from integrations import vault
from integrations.models import Integration, IntegrationLog
from integrations.tests.conftest import encode

pytestmark = pytest.mark.django_db

SECRET = "ghp_super-secret-personal-token-1234567890"


def connect(client, key="github", type="api_key", credentials=None, **extra):
    payload = {"integration_key": key, "type": type, "credentials": encode(credentials or {"api_key": SECRET}), **extra}
    return client.post("/api/v1/integrations/connect", payload, format="json")


def test_providers_catalog_lists_the_required_providers(owner_client):
    response = owner_client.get("/api/v1/integrations/providers")

    assert response.status_code == 200
    providers = {p["key"]: p for p in response.json()["data"]}
    assert {"gmail", "google_drive", "slack", "github"} <= set(providers)
    assert providers["gmail"]["auth_type"] == "oauth"
    assert providers["gmail"]["scopes"]
    assert providers["github"]["auth_types"] == ["oauth", "api_key"]
    assert providers["gmail"]["oauth_configured"] is False  # no client id in the test settings


def test_connect_api_key_stores_the_secret_encrypted_and_never_returns_it(team, owner_client):
    organization = team[0]

    response = connect(owner_client)

    assert response.status_code == 201, response.content
    assert response.json() == {"status": "ok", "message": "github connected successfully"}
    integration = Integration.objects.get(organization=organization, key="github")
    assert SECRET not in integration.secret
    assert vault.unseal(organization=organization, token=integration.secret) == {"api_key": SECRET}
    listed = owner_client.get("/api/v1/integrations")
    assert listed.status_code == 200
    assert SECRET not in listed.content.decode()
    assert integration.secret not in listed.content.decode()
    [row] = listed.json()["integrations"]
    assert row["key"] == "github" and row["type"] == "api_key" and row["status"] == "active" and row["revoked"] is False
    assert set(row) >= {"key", "type", "status", "revoked", "expires_at", "updated_at", "last_error"}


def test_connect_records_log_and_audit_without_the_credentials(team, owner_client):
    organization = team[0]

    connect(owner_client)

    log = IntegrationLog.objects.get(organization=organization)
    assert log.action == "CONNECTED" and log.integration.key == "github"
    event = AuditEvent.objects.get(action="integration.connected", organization_id=organization.id)
    assert event.metadata["integration"] == "github" and event.metadata["replaced"] is False
    assert SECRET not in json.dumps(event.metadata) + json.dumps(event.changes)


def test_connecting_again_replaces_with_200(team, owner_client):
    connect(owner_client)

    response = connect(owner_client, credentials={"api_key": "another"})

    assert response.status_code == 200
    assert response.json()["message"] == "github reconnected successfully"
    integration = Integration.objects.get(organization=team[0], key="github")
    assert vault.unseal(organization=team[0], token=integration.secret) == {"api_key": "another"}


def test_connect_oauth_with_supplied_tokens_sets_expiry_and_refreshability(team, owner_client):
    response = connect(
        owner_client,
        key="gmail",
        type="oauth",
        credentials={"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 3600},
    )

    assert response.status_code == 201
    integration = Integration.objects.get(organization=team[0], key="gmail")
    assert integration.refreshable is True
    assert abs((integration.expires_at - clock.now()) - timedelta(hours=1)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("credentials", "field_message"),
    [
        ("%%%not-base64%%%", "base64"),
        (base64.b64encode(b"not json").decode(), "JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "JSON object"),
        (base64.b64encode(b'{"token": "x"}').decode(), "api_key"),
        (base64.b64encode(b'{"api_key": ""}').decode(), "api_key"),
        ("", "credentials"),
    ],
)
def test_bad_credentials_are_400_and_store_nothing(team, owner_client, credentials, field_message):
    response = owner_client.post("/api/v1/integrations/connect", {"integration_key": "github", "type": "api_key", "credentials": credentials}, format="json")

    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    assert "credentials" in body["details"]
    assert field_message.lower() in json.dumps(body).lower()
    assert not Integration.objects.filter(organization=team[0]).exists()


def test_oauth_credentials_need_an_access_token(owner_client):
    response = connect(owner_client, key="gmail", type="oauth", credentials={"refresh_token": "x"})

    assert response.status_code == 400
    assert "access_token" in response.json()["error"]["message"]


def test_unknown_provider_is_404_and_wrong_type_400(owner_client):
    assert connect(owner_client, key="myspace").status_code == 404
    response = connect(owner_client, key="gmail", type="api_key")
    assert response.status_code == 400
    assert "type" in response.json()["error"]["details"]


def test_past_expiry_is_refused(owner_client):
    response = connect(owner_client, expires_at=(clock.now() - timedelta(minutes=1)).isoformat())

    assert response.status_code == 400
    assert "expires_at" in response.json()["error"]["details"]


def test_plan_limit_gives_402(org_factory):
    # The free plan allows 2 integrations (billing's seeded plans); no unlimited_plan here.
    organization, members = org_factory(roles=("owner",))
    client = client_for(members["owner"].user, organization)
    assert connect(client, key="github").status_code == 201
    assert connect(client, key="sendgrid").status_code == 201

    response = connect(client, key="openai")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "PLAN_LIMIT_REACHED"
    # Replacing one that exists is not a new integration.
    assert connect(client, key="github").status_code == 200
    usage = client.get("/api/v1/billing/usage").json()
    assert usage["integrations"] == {"used": 2, "limit": 2}


def test_status_endpoint(team, owner_client):
    connect(owner_client, expires_at=(clock.now() + timedelta(hours=2)).isoformat())

    response = owner_client.get("/api/v1/integrations/github/status")

    assert response.status_code == 200
    assert response.json() == {"integration": "github", "revoked": False, "expired": False, "status": "active"}
    assert owner_client.get("/api/v1/integrations/gmail/status").status_code == 404


def test_status_is_expired_past_the_expiry(team, owner_client):
    connect(owner_client, expires_at=(clock.now() + timedelta(minutes=5)).isoformat())
    Integration.objects.filter(key="github").update(expires_at=clock.now() - timedelta(seconds=1))

    body = owner_client.get("/api/v1/integrations/github/status").json()

    assert body["status"] == "expired" and body["expired"] is True


def test_logs_filter_and_validate(team, owner_client):
    connect(owner_client)
    connect(owner_client, key="sendgrid")

    everything = owner_client.get("/api/v1/integrations/logs").json()["logs"]
    only_github = owner_client.get("/api/v1/integrations/logs?integration=github&action=CONNECTED").json()["logs"]
    bad = owner_client.get("/api/v1/integrations/logs?action=EXPLODED")

    assert [log["integration"] for log in everything] == ["sendgrid", "github"]  # newest first
    assert set(everything[0]) == {"integration", "action", "message", "timestamp"}
    assert [log["integration"] for log in only_github] == ["github"]
    assert bad.status_code == 400


def test_viewer_reads_but_cannot_manage(team):
    organization, members, clients = team
    connect(clients["owner"])
    viewer = clients["viewer"]

    assert viewer.get("/api/v1/integrations").status_code == 200
    assert viewer.get("/api/v1/integrations/logs").status_code == 200
    for response in (
        connect(viewer),
        viewer.post("/api/v1/integrations/github/revoke"),
        viewer.post("/api/v1/integrations/github/refresh"),
        viewer.get("/api/v1/integrations/oauth/gmail/start"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert connect(clients["admin"], key="sendgrid").status_code == 201


def test_anonymous_is_401(api_client):
    assert api_client.get("/api/v1/integrations").status_code == 401
    assert api_client.post("/api/v1/integrations/connect", {}, format="json").status_code == 401


def test_org_stats_count_connected_integrations(team, owner_client):
    connect(owner_client)

    stats = owner_client.get(f"/api/v1/orgs/{team[0].id}/stats").json()

    assert stats["integrations"] == 1


def test_list_query_count_is_constant(team, owner_client, django_assert_max_num_queries):
    for key in ("github", "sendgrid", "openai"):
        connect(owner_client, key=key)

    with django_assert_max_num_queries(12):
        response = owner_client.get("/api/v1/integrations")

    assert len(response.json()["integrations"]) == 3
