"""Helpers shared by the permissions app's tests."""

import pytest
from rest_framework.test import APIClient

from accounts.sessions import session_create
from core import authz
from core.actor import Actor
from core.roles import Role


def code_of(response) -> str:
    return response.json()["error"]["code"]


def org_url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.id}/{suffix}" if suffix else f"/api/v1/orgs/{organization.id}"


def token_client(user, organization, *, mfa: bool = False) -> APIClient:
    """A client with a session opened directly (MFA-verified when asked), no login round trip."""
    pair = session_create(user=user, actor=Actor.for_user(user), mfa_verified=mfa, organization_id=organization.id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    client.user = user
    return client


@pytest.fixture
def temp_catalog(monkeypatch):
    """Declare permissions for one test only (granted to admin and owner): the registry is swapped for a copy."""
    monkeypatch.setattr(authz, "_catalog", dict(authz._catalog))

    def declare(*codes: str) -> None:
        for code in codes:
            if not authz.is_declared(code):  # an app may have declared it for real by now
                authz.declare(code, f"Test permission {code}.", roles=(Role.ADMIN,))

    return declare
