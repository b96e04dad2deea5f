"""Per-org SSO enforcement beyond REST: introspection, the enforced-domain copy, IDN addresses, API keys, integration OAuth.

Each was an attack in a review of the per-org check; each now holds (API keys by design: see docs/sso.md).
"""

import importlib

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from core import clock
from integrations.tests.conftest import fake_provider  # noqa: F401  (fixture)
from internal.tests.conftest import plans, service_keys, signed  # noqa: F401  (fixtures)
from organizations.models import Membership, Organization
from organizations.tests.factories import MembershipFactory
from sso.tests.conftest import frontend_fragment, verified_domain
from sso.tests.test_enforce import LOGIN, PASSWORD
from sso.tests.test_oidc import Browser, oidc_connection_create, sign_in, sso_client

pytestmark = pytest.mark.django_db(transaction=False)

REFRESH = "/api/v1/auth/refresh"


def member_at(corp, email):
    user = MembershipFactory(organization=corp, role="member", user__email=email, user__email_verified_at=clock.now()).user
    user.set_password(PASSWORD)
    user.save()
    return user


def password_login(user, corp):
    response = Client().post(LOGIN, {"email": user.email, "password": PASSWORD, "organization_id": str(corp.id)}, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def sso_access(email: str) -> str:
    return frontend_fragment(sign_in(Browser(), email, email=email))["access_token"]


def bearer(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_introspection_does_not_vouch_for_a_password_session_in_an_enforcing_org(corp, corp_admin, oidc_peer, signed):  # noqa: F811
    # given a covered member with a password session opened in corp before enforce was turned on
    member = member_at(corp, "pw@corp.test")
    tokens = password_login(member, corp)
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)

    # when the session is refreshed and a product service introspects its access token
    refreshed = APIClient().post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    introspected = signed.post("/internal/v1/validate-token", {"token": refreshed.json()["access_token"]}).json()

    # then neither the public API nor the internal one vouches for it in corp
    assert bearer(refreshed.json()["access_token"]).get(f"/api/v1/orgs/{corp.id}/members").json()["error"]["code"] == "SSO_REQUIRED"
    assert introspected == {"active": False}
    # while a session through the IdP is active, and says so
    through_idp = signed.post("/internal/v1/validate-token", {"token": sso_access(member.email)}).json()
    assert through_idp["active"] is True and through_idp["amr"] == ["sso"]


def test_the_migration_copies_enforced_domains_of_existing_connections(corp, corp_admin, oidc_peer):
    # given a covered member's password session in corp, and an enforcing connection whose org row
    # lost its copy (as rows made before the copy existed)
    member = member_at(corp, "old@corp.test")
    tokens = password_login(member, corp)
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)
    Organization.objects.filter(id=corp.id).update(sso_enforced_domains=[])
    cache.clear()
    assert bearer(tokens["access_token"]).get(f"/api/v1/orgs/{corp.id}/members").status_code == 200

    # when the data migration runs
    from django.apps import apps as django_apps

    backfill = importlib.import_module("sso.migrations.0003_enforced_domains_backfill").backfill
    backfill(django_apps, None)
    cache.clear()

    # then the org enforces again
    assert Organization.objects.get(id=corp.id).sso_enforced_domains == ["corp.test"]
    assert bearer(tokens["access_token"]).get(f"/api/v1/orgs/{corp.id}/members").json()["error"]["code"] == "SSO_REQUIRED"


def test_a_unicode_address_at_an_idn_enforced_domain_is_covered(corp, corp_admin, oidc_peer):
    # given corp verified an IDN domain (stored as punycode) and enforces SSO there
    verified_domain(corp, "xn--bcher-kva.test")
    member = member_at(corp, "eve@bücher.test")  # the same mailbox, spelled in Unicode
    oidc_connection_create(corp_admin, corp, oidc_peer, domains=("xn--bcher-kva.test",), enforce=True)
    assert Organization.objects.get(id=corp.id).sso_enforced_domains == ["xn--bcher-kva.test"]

    # when the member signs in with a password into corp
    response = Client().post(LOGIN, {"email": member.email, "password": PASSWORD, "organization_id": str(corp.id)}, content_type="application/json")

    # then the domain is recognised in its IDNA form: SSO is required
    assert response.status_code == 403 and response.json()["error"]["code"] == "SSO_REQUIRED"


def test_an_api_key_made_by_a_covered_member_is_an_org_credential_not_a_session(corp, corp_admin, oidc_peer):
    # given an admin at corp.test (covered) who made an API key from a password session
    admin = MembershipFactory(organization=corp, role="admin", user__email="keys@corp.test", user__email_verified_at=clock.now()).user
    admin.set_password(PASSWORD)
    admin.save()
    tokens = password_login(admin, corp)
    made = bearer(tokens["access_token"]).post(f"/api/v1/orgs/{corp.id}/api-keys", {"name": "ci", "scopes": ["members:read"]}, format="json")
    assert made.status_code == 201, made.content
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)

    # when the key is used after enforce
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {made.json()['secret']}")
    response = client.get(f"/api/v1/orgs/{corp.id}/members")

    # then the key keeps its scopes (documented: keys are bounded by the creator's membership) while the session is refused
    assert bearer(tokens["access_token"]).get(f"/api/v1/orgs/{corp.id}/members").status_code == 403
    assert response.status_code == 200, response.content
    # ... and suspending the member (as SCIM de-provisioning does) stops the key too
    Membership.objects.filter(organization=corp, user=admin).update(status=Membership.Status.SUSPENDED)
    cache.clear()
    assert client.get(f"/api/v1/orgs/{corp.id}/members").status_code in (401, 403)


def test_integration_oauth_completes_for_a_covered_members_sso_session(corp, corp_admin, oidc_peer, fake_provider, unlimited_plan):  # noqa: F811
    # given corp enforces SSO and its admin (covered) works from a session opened through the IdP
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)
    admin = sso_client(corp.admin.email)
    assert admin.get(f"/api/v1/orgs/{corp.id}/members").status_code == 200

    # when they connect an integration: start, consent at the provider, callback with their own token
    started = admin.get("/api/v1/integrations/oauth/gmail/start")
    assert started.status_code == 200, started.content
    response = admin.get("/api/v1/integrations/oauth/gmail/callback", fake_provider.consent(started.json()["authorize_url"]))

    # then the callback admits them: the signed state recorded that the session came through SSO
    assert response.status_code in (200, 201), response.content
