"""Tenant isolation: a member of org A can neither read nor change org B's integrations or logs."""

import pytest

from conftest import client_for
from core.actor import Actor
from integrations import services
from integrations.models import Integration, IntegrationLog
from integrations.providers import provider_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_orgs(org_factory, unlimited_plan):
    org_a, members_a = org_factory(roles=("owner",))
    org_b, _ = org_factory(roles=("owner",))
    services.integration_connect(organization=org_b, provider=provider_get("github"), type="api_key", credentials={"api_key": "b-secret"}, actor=Actor.system())
    return org_a, org_b, client_for(members_a["owner"].user, org_a)


def _snapshot(organization):
    return (
        list(Integration.objects.filter(organization=organization).values()),
        list(IntegrationLog.objects.filter(organization=organization).values()),
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/integrations/github/status"),
        ("post", "/api/v1/integrations/github/refresh"),
        ("post", "/api/v1/integrations/github/revoke"),
    ],
)
def test_another_orgs_integration_is_404(two_orgs, method, path):
    org_a, org_b, client = two_orgs
    before = _snapshot(org_b)

    response = getattr(client, method)(path)

    assert response.status_code == 404
    assert _snapshot(org_b) == before


def test_lists_and_logs_show_nothing_of_another_org(two_orgs):
    org_a, org_b, client = two_orgs

    assert client.get("/api/v1/integrations").json() == {"integrations": []}
    assert client.get("/api/v1/integrations/logs").json() == {"logs": []}
    assert client.get("/api/v1/integrations/logs?integration=github").json() == {"logs": []}


def test_naming_another_org_in_the_header_is_refused(two_orgs):
    org_a, org_b, client = two_orgs
    before = _snapshot(org_b)

    responses = [
        client.get("/api/v1/integrations", HTTP_X_ORG_ID=str(org_b.id)),
        client.get("/api/v1/integrations/github/status", HTTP_X_ORG_ID=str(org_b.id)),
        client.post("/api/v1/integrations/github/revoke", HTTP_X_ORG_ID=str(org_b.id)),
        client.post(
            "/api/v1/integrations/connect",
            {"integration_key": "sendgrid", "type": "api_key", "credentials": "eyJhcGlfa2V5IjogIngifQ=="},
            format="json",
            HTTP_X_ORG_ID=str(org_b.id),
        ),
    ]

    assert [r.status_code for r in responses] == [403] * 4
    assert {r.json()["error"]["code"] for r in responses} == {"INVALID_ORG_CONTEXT"}
    assert _snapshot(org_b) == before


def test_connecting_the_same_provider_touches_only_ones_own_org(two_orgs):
    org_a, org_b, client = two_orgs
    before = _snapshot(org_b)

    response = client.post(
        "/api/v1/integrations/connect",
        {"integration_key": "github", "type": "api_key", "credentials": "eyJhcGlfa2V5IjogIngifQ=="},
        format="json",
    )

    assert response.status_code == 201  # a new one for org A, not a replacement of org B's
    assert _snapshot(org_b) == before
