"""SSO through OIDC, end to end against a real OpenID Provider (panva/oidc-provider 9) on loopback.

The browser is Django's test client on our side and a `requests` session on the IdP's side; the
server-to-server calls (discovery, token exchange, JWKS, userinfo) are real HTTP to the peer.
"""

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jwt
import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client

from accounts.models import User, UserSession
from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from billing.tests.test_entitlements import put_on
from core import clock
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from sso.models import SSOConnection
from sso.tests.conftest import CONNECTIONS, START, frontend_fragment, oidc_client_register, verified_domain

pytestmark = pytest.mark.django_db(transaction=False)


def redirect_uri_for(connection_id) -> str:
    return f"http://testserver/api/v1/auth/sso/{connection_id}/callback"


def oidc_connection_create(admin_client, organization, issuer: str, *, domains=("corp.test",), enforce=False, name="Corp IdP") -> dict:
    """Create a connection through the API, then register its redirect URI at the IdP (the admin's two steps).

    `enforce`: turned on last, as an admin does it: from a session opened through the connection
    when the admin's own address is at one of its domains (else it would end their session).
    """
    placeholder = {"issuer": issuer, "client_id": "pending", "client_secret": "pending"}
    response = admin_client.post(
        CONNECTIONS.format(org=organization.id),
        {"type": "oidc", "name": name, "domains": list(domains), "oidc": placeholder},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    registered = oidc_client_register(issuer, body["oidc"]["redirect_uri"])
    patch = {"oidc": {"client_id": registered["client_id"], "client_secret": registered["client_secret"]}}
    detail = f"{CONNECTIONS.format(org=organization.id)}/{body['id']}"
    response = admin_client.patch(detail, patch, format="json")
    assert response.status_code == 200, response.content
    if enforce:
        response = admin_client.patch(detail, {"enforce": True}, format="json")
        if response.status_code == 409:
            response = sso_client(admin_client.user.email).patch(detail, {"enforce": True}, format="json")
        assert response.status_code == 200, response.content
    return {**response.json(), "client_secret": registered["client_secret"]}


def sso_client(email: str):
    """An API client with a session opened through SSO (the peer signs `email` in)."""
    from rest_framework.test import APIClient

    fragment = frontend_fragment(sign_in(Browser(), email, email=email))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {fragment['access_token']}")
    return client


class Browser:
    """One browser: Django's test client for our routes, a requests session (own cookies) for the IdP's."""

    def __init__(self):
        self.ours = Client()
        self.idp = requests.Session()

    def start(self, **body) -> str:
        response = self.ours.post(START, body, content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()["redirect_url"]

    def to_idp(self, redirect_url: str) -> str:
        """Open our login URL: the authorization request URL at the IdP."""
        response = self.ours.get(redirect_url)
        assert response.status_code == 302, response.content
        return response["Location"]

    def sign_in_at_idp(self, authorize_url: str, account: str) -> str:
        """Authenticate at the IdP as `account`; return the redirect back to us (code, state, iss)."""
        response = self.idp.get(authorize_url, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), response.text
        interaction = response.headers["Location"]
        issuer = f"{urlsplit(authorize_url).scheme}://{urlsplit(authorize_url).netloc}"
        location = f"{issuer}{interaction}/login?{urlencode({'account': account})}"
        while True:
            response = self.idp.get(location, allow_redirects=False, timeout=10)
            assert response.status_code in (302, 303), response.text
            location = response.headers["Location"]
            if location.startswith("/"):
                location = f"{issuer}{location}"
            if location.startswith("http://testserver/"):
                return location

    def back_to_us(self, callback_url: str):
        parts = urlsplit(callback_url)
        return self.ours.get(parts.path, dict(parse_qs_flat(parts.query)))


def parse_qs_flat(query: str) -> dict:
    return {key: values[0] for key, values in parse_qs(query).items()}


def sign_in(browser: Browser, account: str, **start_body):
    callback = browser.sign_in_at_idp(browser.to_idp(browser.start(**start_body)), account)
    return browser.back_to_us(callback)


def access_claims(fragment: dict) -> dict:
    return jwt.decode(fragment["access_token"], options={"verify_signature": False})


@pytest.fixture
def connection(corp, corp_admin, oidc_peer) -> dict:
    return oidc_connection_create(corp_admin, corp, oidc_peer)


# --- end to end ------------------------------------------------------------------------------------


def test_first_sso_sign_in_creates_the_account_and_jit_provisions_a_member(corp, connection, leak_guard):
    corp.settings = {"default_role": "viewer"}
    corp.save()
    browser = Browser()
    authorize = browser.to_idp(browser.start(email="Newbie@corp.test"))
    query = parse_qs_flat(urlsplit(authorize).query)
    # The authorization request allauth sent: code flow, PKCE S256, our nonce, state, login hint.
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["nonce"] and query["state"] and query["login_hint"] == "Newbie@corp.test"
    assert query["redirect_uri"] == redirect_uri_for(connection["id"])

    fragment = frontend_fragment(browser.back_to_us(browser.sign_in_at_idp(authorize, "newbie@corp.test")))

    assert fragment["token_type"] == "bearer" and fragment["refresh_token"]
    claims = access_claims(fragment)
    assert claims["amr"] == ["sso"] and claims["org_id"] == str(corp.id) and claims["role"] == "viewer"
    user = User.objects.get(email="newbie@corp.test")
    assert user.email_verified  # only because corp.test is a verified domain of the org
    assert not user.has_usable_password()
    membership = Membership.objects.get(organization=corp, user=user)
    assert membership.role == "viewer" and membership.status == Membership.Status.ACTIVE
    assert UserSession.objects.get(user=user).auth_method == "sso"
    assert SocialAccount.objects.get(user=user).provider == connection["id"]
    actions = set(AuditEvent.objects.filter(organization_id=corp.id).values_list("action", flat=True))
    assert {"member.jit_provisioned", "user.sso_login", "sso.connection_created", "sso.connection_updated"} <= actions
    jit = AuditEvent.objects.get(action="member.jit_provisioned")
    assert jit.metadata["source"] == "sso" and jit.changes == {"role": [None, "viewer"]}
    # No Django session outlives the round trip.
    assert "sessionid" not in browser.ours.cookies or not browser.ours.cookies["sessionid"].value
    # The tokens work against the API.
    me = Client().get("/api/v1/users/me", HTTP_AUTHORIZATION=f"Bearer {fragment['access_token']}")
    assert me.status_code == 200 and me.json()["email"] == "newbie@corp.test"


def test_an_existing_verified_account_is_linked_and_signed_in_again_by_the_link(corp, connection):
    user = UserFactory(email="ada@corp.test", email_verified_at=clock.now())
    first = frontend_fragment(sign_in(Browser(), "ada@corp.test", email="ada@corp.test"))
    assert access_claims(first)["sub"] == str(user.id)
    assert SocialAccount.objects.filter(user=user, provider=connection["id"]).exists()
    assert Membership.objects.get(organization=corp, user=user).role == "member"
    assert AuditEvent.objects.filter(action="user.provider_linked", target_id=str(user.id)).exists()
    again = frontend_fragment(sign_in(Browser(), "ada@corp.test", organization_slug="corp"))
    assert access_claims(again)["sub"] == str(user.id)
    assert SocialAccount.objects.filter(user=user).count() == 1


def test_a_removed_member_comes_back_through_jit_but_a_suspended_one_does_not(corp, connection):
    user = UserFactory(email="bo@corp.test", email_verified_at=clock.now())
    assert "access_token" in frontend_fragment(sign_in(Browser(), "bo@corp.test", email="bo@corp.test"))
    Membership.objects.filter(organization=corp, user=user).delete()
    fragment = frontend_fragment(sign_in(Browser(), "bo@corp.test", email="bo@corp.test"))
    assert access_claims(fragment)["org_id"] == str(corp.id)
    Membership.objects.filter(organization=corp, user=user).update(status=Membership.Status.SUSPENDED)
    assert frontend_fragment(sign_in(Browser(), "bo@corp.test", email="bo@corp.test")) == {"error": "membership_suspended"}


def test_an_unverified_local_account_is_not_taken_over(corp, connection):
    """Someone registered ada@corp.test without proving the mailbox: the IdP's Ada does not get (nor give) that account."""
    squatter = UserFactory(email="ada@corp.test", email_verified_at=None)
    fragment = frontend_fragment(sign_in(Browser(), "ada@corp.test", email="ada@corp.test"))
    assert fragment == {"error": "account_exists"}
    assert not SocialAccount.objects.filter(user=squatter).exists()
    assert not Membership.objects.filter(user=squatter).exists()


def test_a_suspended_member_is_refused(corp, connection):
    member = MembershipFactory(
        organization=corp, role="member", user__email="gone@corp.test", user__email_verified_at=clock.now(), status=Membership.Status.SUSPENDED
    )
    assert frontend_fragment(sign_in(Browser(), "gone@corp.test", email="gone@corp.test")) == {"error": "membership_suspended"}
    assert not UserSession.objects.filter(user=member.user).exists()


def test_mfa_users_get_the_challenge_not_tokens(corp, connection):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = MembershipFactory(organization=corp, user__email="mfa@corp.test", user__email_verified_at=clock.now()).user
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    fragment = frontend_fragment(sign_in(Browser(), "mfa@corp.test", email="mfa@corp.test"))
    assert fragment["status"] == "mfa_required" and fragment["mfa_token"] and "access_token" not in fragment


# --- attacks ---------------------------------------------------------------------------------------


def test_a_callback_in_another_browser_is_refused(corp, connection):
    """The state lives in the session of the browser that opened the login URL (invariant 4)."""
    victim, attacker = Browser(), Browser()
    callback = attacker.sign_in_at_idp(attacker.to_idp(attacker.start(email="mallory@corp.test")), "mallory@corp.test")
    assert frontend_fragment(victim.back_to_us(callback)) == {"error": "invalid_state"}
    assert not User.objects.filter(email="mallory@corp.test").exists()


def test_a_wrong_state_is_refused(corp, connection):
    browser = Browser()
    callback = browser.sign_in_at_idp(browser.to_idp(browser.start(email="eve@corp.test")), "eve@corp.test")
    parts = urlsplit(callback)
    query = parse_qs_flat(parts.query)
    query["state"] = "forged-state"
    assert frontend_fragment(browser.ours.get(parts.path, query)) == {"error": "invalid_state"}


def test_an_id_token_for_another_nonce_is_refused(corp, connection):
    browser = Browser()
    authorize = urlsplit(browser.to_idp(browser.start(email="eve@corp.test")))
    query = parse_qs_flat(authorize.query)
    query["nonce"] = "attacker-chosen-nonce"  # an ID token minted for another authorization request
    forged = urlunsplit(authorize._replace(query=urlencode(query)))
    fragment = frontend_fragment(browser.back_to_us(browser.sign_in_at_idp(forged, "eve@corp.test")))
    assert fragment == {"error": "invalid_nonce"}
    assert not User.objects.filter(email="eve@corp.test").exists()


def test_a_code_cannot_be_replayed(corp, connection):
    browser = Browser()
    callback = browser.sign_in_at_idp(browser.to_idp(browser.start(email="rex@corp.test")), "rex@corp.test")
    assert "access_token" in frontend_fragment(browser.back_to_us(callback))
    assert frontend_fragment(browser.back_to_us(callback)) == {"error": "invalid_state"}


def test_org_a_idp_cannot_sign_into_org_b_domain(corp, connection, oidc_peer):
    """Corp's IdP asserts an address at a domain another org verified: refused, nothing created or linked."""
    other = OrganizationFactory(slug="other")
    put_on(other, "team")
    verified_domain(other, "other.test")
    victim = MembershipFactory(organization=other, role="owner", user__email="boss@other.test", user__email_verified_at=clock.now()).user
    fragment = frontend_fragment(sign_in(Browser(), "boss@other.test", email="someone@corp.test"))
    assert fragment == {"error": "sso_domain_not_allowed"}
    assert not SocialAccount.objects.filter(user=victim).exists()
    assert not Membership.objects.filter(organization=corp, user=victim).exists()
    assert not UserSession.objects.filter(user=victim).exists()


def test_a_domain_unverified_since_no_longer_signs_in(corp, connection):
    corp.domains.update(verified_at=None)
    browser = Browser()
    # The start finds nothing any more; a login URL opened earlier fails at the callback.
    assert browser.ours.post(START, {"email": "x@corp.test"}, content_type="application/json").status_code == 404


def test_without_the_sso_plan_flag_sign_in_stops(corp, connection):
    browser = Browser()
    login_url = browser.start(email="late@corp.test")
    put_on(corp, "free")
    response = browser.ours.get(login_url)
    assert frontend_fragment(response) == {"error": "sso_unavailable"}


def test_the_id_token_signature_is_checked_against_the_jwks(corp, connection, monkeypatch):
    """A token signed by another key (not in the IdP's JWKS) is refused even though it came from the token endpoint."""
    from allauth.socialaccount.providers.oauth2 import client as oauth2_client
    from cryptography.hazmat.primitives.asymmetric import rsa

    real = oauth2_client.OAuth2Client.get_access_token
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def swapped(self, code, pkce_code_verifier=None, extra_data=None):
        data = real(self, code, pkce_code_verifier=pkce_code_verifier, extra_data=extra_data)
        claims = jwt.decode(data["id_token"], options={"verify_signature": False})
        header = jwt.get_unverified_header(data["id_token"])
        data["id_token"] = jwt.encode(claims, attacker_key, algorithm="RS256", headers={"kid": header["kid"]})
        return data

    monkeypatch.setattr(oauth2_client.OAuth2Client, "get_access_token", swapped)
    fragment = frontend_fragment(sign_in(Browser(), "sig@corp.test", email="sig@corp.test"))
    assert fragment == {"error": "exchange_failed"}
    assert not User.objects.filter(email="sig@corp.test").exists()


# --- start ---------------------------------------------------------------------------------------


def test_start_answers_404_for_unknown_domains_and_orgs(corp, connection):
    client = Client()
    for body in ({"email": "a@nowhere.test"}, {"organization_slug": "nope"}):
        response = client.post(START, body, content_type="application/json")
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    bad = client.post(START, {"email": "a@corp.test", "organization_slug": "corp"}, content_type="application/json")
    assert bad.status_code == 400


def test_the_connection_keeps_its_secret_sealed(corp, connection):
    row = SSOConnection.objects.get(id=connection["id"])
    app = SocialApp.objects.get(provider_id=connection["id"])
    assert app.secret == "" and connection["client_secret"] not in row.sealed
    assert app.provider == "openid_connect" and app.client_id == connection["oidc"]["client_id"]
