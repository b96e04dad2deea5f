"""`enforce`: addresses a connection covers sign in only through its IdP (the org's owner keeps other ways in)."""

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from accounts.tests.factories import UserFactory
from accounts.tests.fake_google import GoogleAccount
from accounts.tests.test_oauth_google import google, google_server, round_trip  # noqa: F401  (fixtures)
from billing.tests.test_entitlements import put_on
from core import clock
from organizations.tests.factories import MembershipFactory
from sso.tests.conftest import frontend_fragment
from sso.tests.test_oidc import Browser, oidc_connection_create, sign_in, sso_client

LOGIN = "/api/v1/auth/login"
PASSWORD = "S3cure-passphrase!"


def password_login(email: str, password: str = PASSWORD):
    return Client().post(LOGIN, {"email": email, "password": password}, content_type="application/json")


@pytest.fixture
def enforced(corp, corp_admin, oidc_peer) -> dict:
    return oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)


@pytest.fixture
def member(corp):
    return MembershipFactory(organization=corp, role="member", user__email="worker@corp.test", user__email_verified_at=clock.now()).user


def test_members_at_an_enforced_domain_cannot_sign_in_with_a_password(member, enforced):
    response = password_login(member.email)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "SSO_REQUIRED" and "auth/sso/start" in error["message"]
    # ... and SSO signs them in.
    assert "access_token" in frontend_fragment(sign_in(Browser(), member.email, email=member.email))


def test_a_wrong_password_answers_as_before(member, enforced):
    """The SSO answer comes only once the password matched: nothing more is told than a login tells."""
    wrong = password_login(member.email, "not-the-password")
    unknown = password_login("nobody@corp.test", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_the_owner_keeps_password_sign_in_as_break_glass(corp, enforced):
    assert password_login(corp.owner.email).status_code == 200


def test_not_enforced_or_other_domains_or_without_the_plan_passwords_work(corp, corp_admin, member, oidc_peer):
    connection = oidc_connection_create(corp_admin, corp, oidc_peer, enforce=False)
    assert password_login(member.email).status_code == 200
    outsider = UserFactory(email="someone@elsewhere.test")
    # (from a session through the connection: the admin's address is at corp.test too)
    enforced = sso_client(corp.admin.email).patch(f"/api/v1/orgs/{corp.id}/sso/connections/{connection['id']}", {"enforce": True}, format="json")
    assert enforced.status_code == 200, enforced.content
    assert password_login(outsider.email).status_code == 200
    assert password_login(member.email).status_code == 403
    put_on(corp, "free")  # SSO no longer offered by the plan: the IdP cannot sign in, so passwords work again
    assert password_login(member.email).status_code == 200


def test_google_sign_in_is_refused_too(member, enforced, google, round_trip):  # noqa: F811
    google.sign_in(GoogleAccount(email=member.email, given_name="Wo", family_name="Rker"))
    assert round_trip() == {"error": "sso_required"}
    assert not SocialAccount.objects.filter(user=member, provider="google").exists()


def test_a_linked_google_account_is_refused_once_enforced(member, corp, corp_admin, oidc_peer, google, round_trip):  # noqa: F811
    google.sign_in(GoogleAccount(email=member.email, given_name="Wo", family_name="Rker"))
    assert "access_token" in round_trip()  # linked and signed in while SSO is not enforced
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)
    assert round_trip() == {"error": "sso_required"}
