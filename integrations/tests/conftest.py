"""Fixtures of the integrations tests: a local OAuth provider wired into every OAuth provider."""

import base64
import json

import pytest

from conftest import client_for
from integrations.tests.fake_provider import FakeOAuthProvider

ROLES = ("owner", "admin", "member", "viewer")


def encode(payload) -> str:
    """Credentials as the API takes them: base64 of JSON."""
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def fake_provider(settings):
    """The fake authorization server, standing in for every OAuth provider of the catalog."""
    fake = FakeOAuthProvider().start()
    fake.install(settings)
    settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS = 0.5
    settings.INTEGRATIONS_REFRESH_BACKOFF_SECONDS = 0
    yield fake
    fake.stop()


@pytest.fixture
def team(org_factory, unlimited_plan):
    """An org with one member per built-in role and a signed-in client for each (org active)."""
    organization, members = org_factory(roles=ROLES)
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients


@pytest.fixture
def owner_client(team):
    return team[2]["owner"]
