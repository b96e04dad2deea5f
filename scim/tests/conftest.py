"""Fixtures of the SCIM tests: an org on a plan with `sso`, a verified domain, and an IdP client holding its token."""

import json
from datetime import UTC, datetime

import pytest
from django.test import Client

from billing.models import Plan, Subscription
from core import clock
from core.actor import Actor
from organizations.models import Domain
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from scim import tokens

SCIM_JSON = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def plan_set(organization, code: str) -> None:
    """Put the org on a seeded plan through a manual subscription (billing's own entitlements)."""
    Subscription.objects.update_or_create(
        organization=organization,
        defaults={
            "plan": Plan.objects.get(code=code),
            "provider": Subscription.Provider.MANUAL,
            "status": Subscription.Status.ACTIVE,
            "active_until": datetime(2100, 1, 1, tzinfo=UTC),
        },
    )


def domain_verify(organization, domain: str) -> Domain:
    return Domain.objects.create(organization=organization, domain=domain, verification_token="t", verified_at=clock.now())


class ScimClient:
    """An IdP: sends SCIM requests with the org's bearer token, as application/scim+json."""

    def __init__(self, organization, secret: str):
        self.organization = organization
        self.secret = secret
        self.client = Client()

    def url(self, path: str, organization=None) -> str:
        return f"/scim/v2/{(organization or self.organization).id}/{path}"

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}

    def get(self, path: str, organization=None, **params):
        return self.client.get(self.url(path, organization), params, **self._headers())

    def send(self, method: str, path: str, body=None, organization=None):
        data = json.dumps(body) if body is not None else ""
        return getattr(self.client, method)(self.url(path, organization), data=data, content_type=SCIM_JSON, **self._headers())

    def post(self, path, body, organization=None):
        return self.send("post", path, body, organization)

    def put(self, path, body, organization=None):
        return self.send("put", path, body, organization)

    def patch(self, path, operations, organization=None):
        return self.send("patch", path, {"schemas": [PATCH_OP], "Operations": operations}, organization)

    def delete(self, path, organization=None):
        return self.send("delete", path, None, organization)


@pytest.fixture
def org(db):
    """Acme on the `team` plan (it has `sso`), owning the verified domain acme.test."""
    organization = OrganizationFactory(name="Acme", slug="acme")
    plan_set(organization, "team")
    domain_verify(organization, "acme.test")
    return organization


@pytest.fixture
def owner(org):
    return MembershipFactory(organization=org, role="owner", user__email="owner@acme.test")


@pytest.fixture
def admin(org, owner):
    return MembershipFactory(organization=org, role="admin", user__email="it-admin@acme.test")


def token_for(membership) -> str:
    """Issue a SCIM token held by `membership` through the service; return its secret."""
    return tokens.token_create(organization=membership.organization, name="IdP", actor=Actor.for_user(membership.user)).secret


@pytest.fixture
def idp(org, admin) -> ScimClient:
    """The org's IdP, with a token an admin issued."""
    return ScimClient(org, token_for(admin))


def new_user(email: str = "bjensen@acme.test", **fields) -> dict:
    """A SCIM User body as RFC 7644 §3.3's example, in our domain."""
    return {
        "schemas": [USER],
        "userName": email,
        "externalId": fields.pop("externalId", "bjensen"),
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        **fields,
    }


def scim_error(response, status: int) -> dict:
    """Assert an RFC 7644 §3.12 error answer and return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(SCIM_JSON)
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    return body
