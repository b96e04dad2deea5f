"""The ways around `enforce` and around the IdP's trust that an attacker review found, each closed.

- a passkey as the second factor after SSO is still a sign-in through the IdP;
- a member cannot opt out by founding or joining another org, nor reach the org with a session
  opened elsewhere (registration, switch-org, X-Org-ID): enforcement holds per org, per request;
- the claim of an unverified account the org let in leaves nothing of its former holder (passkey);
- the newcomer check counts the allow policies naming the account, or everyone.
"""

import jwt
import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User, UserSession
from accounts.tests.factories import UserFactory
from accounts.tests.soft_authenticator import SoftAuthenticator
from accounts.tests.test_passkeys import MFA_BEGIN, MFA_COMPLETE, ORIGIN, passkey_sign_in, register, relying_party  # noqa: F401  (RP settings)
from accounts.tests.test_passwords_email import token_from
from conftest import client_for
from core import clock
from organizations.models import Domain, Membership
from organizations.tests.factories import MembershipFactory
from permissions import engine
from permissions.models import Policy
from sso.models import SSOConnection
from sso.tests.test_enforce import LOGIN, PASSWORD
from sso.tests.test_oidc import access_claims, oidc_connection_create, sso_client
from sso.tests.test_takeover import NOT_COVERED, sso_as

pytestmark = pytest.mark.django_db(transaction=False)


def covered_member(corp, email: str) -> User:
    user = MembershipFactory(organization=corp, role="member", user__email=email, user__email_verified_at=clock.now()).user
    user.set_password(PASSWORD)
    user.save()
    return user


def test_sso_then_a_passkey_as_second_factor_signs_in_under_enforce(corp, corp_admin, oidc_peer):
    # given a covered member whose second factor is a passkey, and SSO enforced
    member = covered_member(corp, "pk@corp.test")
    authenticator = SoftAuthenticator(origin=ORIGIN)
    register(client_for(member, corp), authenticator, name="Laptop")
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)

    # when they sign in through the IdP and answer the MFA challenge with the passkey
    fragment = sso_as(member.email)
    assert fragment.get("status") == "mfa_required", fragment
    client = APIClient()
    options = client.post(MFA_BEGIN, {"mfa_token": fragment["mfa_token"]}, format="json").json()
    response = client.post(MFA_COMPLETE, {"mfa_token": fragment["mfa_token"], "credential": authenticator.get(options)}, format="json")

    # then the session opens, marked as an SSO one ("sso+passkey")
    assert response.status_code == 200, response.content
    assert access_claims(response.json())["amr"] == ["sso"]


def test_founding_another_org_does_not_open_the_enforcing_org_to_a_password(corp, corp_admin, oidc_peer):
    # given a covered member under enforce who founds an org of their own from an SSO session
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)
    member = covered_member(corp, "leaver@corp.test")
    created = sso_client(member.email).post("/api/v1/orgs", {"name": "Side project"}, format="json")
    assert created.status_code == 201, created.content

    # when they sign in with their password into corp
    into_corp = Client().post(LOGIN, {"email": member.email, "password": PASSWORD, "organization_id": str(corp.id)}, content_type="application/json")

    # then corp refuses; their own org is theirs to reach, but not corp through it
    assert into_corp.status_code == 403 and into_corp.json()["error"]["code"] == "SSO_REQUIRED"
    elsewhere = Client().post(LOGIN, {"email": member.email, "password": PASSWORD, "organization_id": created.json()["id"]}, content_type="application/json")
    assert elsewhere.status_code == 200, elsewhere.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {elsewhere.json()['access_token']}")
    assert client.get(f"/api/v1/orgs/{corp.id}/members").json()["error"]["code"] == "SSO_REQUIRED"
    assert client.get("/api/v1/premium/free-feature", HTTP_X_ORG_ID=str(corp.id)).json()["error"]["code"] == "SSO_REQUIRED"
    assert client.post("/api/v1/auth/switch-org", {"organization_id": str(corp.id)}, format="json").status_code == 403
    # and corp's IdP does not vouch for an account that belongs to another org either
    assert sso_as(member.email) == NOT_COVERED


def test_a_password_registration_at_an_enforced_domain_is_refused(corp, corp_admin, oidc_peer, mailoutbox, django_capture_on_commit_callbacks):
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)
    Domain.objects.filter(organization=corp, domain="corp.test").update(join_policy=Domain.JoinPolicy.AUTO_JOIN)

    with django_capture_on_commit_callbacks(execute=True):
        registered = APIClient().post("/api/v1/auth/register", {"email": "newbie@corp.test", "password": PASSWORD, "full_name": "New Bie"}, format="json")

    assert registered.status_code == 403 and registered.json()["error"]["code"] == "SSO_REQUIRED"
    assert not User.objects.filter(email="newbie@corp.test").exists() and not mailoutbox
    # the IdP makes the account instead
    assert access_claims(sso_as("newbie@corp.test"))["amr"] == ["sso"]


def test_registered_with_an_org_then_domain_joined_cannot_switch_into_the_enforcing_org(
    corp, corp_admin, oidc_peer, mailoutbox, django_capture_on_commit_callbacks
):
    # given corp enforces SSO and auto-joins its domain; someone registers with an org of their own
    oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)
    Domain.objects.filter(organization=corp, domain="corp.test").update(join_policy=Domain.JoinPolicy.AUTO_JOIN)
    client = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        registered = client.post(
            "/api/v1/auth/register", {"email": "founder@corp.test", "password": PASSWORD, "full_name": "Fo Under", "organization_name": "Mine"}, format="json"
        )
    assert registered.status_code == 201, registered.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {registered.json()['access_token']}")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/v1/auth/email/verify", {"token": token_from(mailoutbox[-1])}, format="json").status_code == 200
    assert Membership.objects.filter(organization=corp, user__email="founder@corp.test").exists()

    # when the password session switches into corp, or names it per request
    switched = client.post("/api/v1/auth/switch-org", {"organization_id": str(corp.id)}, format="json")
    named = client.get(f"/api/v1/orgs/{corp.id}/members")

    # then corp stays behind its IdP
    assert switched.status_code == 403 and switched.json()["error"]["code"] == "SSO_REQUIRED"
    assert named.status_code == 403 and named.json()["error"]["code"] == "SSO_REQUIRED"
    session = UserSession.objects.get(id=jwt.decode(registered.json()["access_token"], options={"verify_signature": False})["sid"])
    assert session.organization_id != corp.id


def test_the_claim_removes_the_former_holders_passkey(corp, corp_admin, oidc_peer):
    # given the inviter accepting the invitation themselves (they hold the code) and adding a passkey
    oidc_connection_create(corp_admin, corp, oidc_peer)
    created = corp_admin.post(f"/api/v1/orgs/{corp.id}/invites", {"email": "hire@corp.test", "role": "member"}, format="json")
    accepted = Client().post(f"/api/v1/invites/{created.json()['code']}/accept", {"full_name": "Hi Re", "password": PASSWORD}, content_type="application/json")
    assert accepted.status_code in (200, 201), accepted.content
    body = accepted.json()
    holder = APIClient()
    holder.credentials(HTTP_AUTHORIZATION=f"Bearer {(body.get('tokens') or body)['access_token']}")
    authenticator = SoftAuthenticator(origin=ORIGIN)
    register(holder, authenticator, name="Inviter's key")

    # when the real person signs in through the org's IdP
    claims = access_claims(sso_as("hire@corp.test"))

    # then they are in (no second factor left to stop them) and the former holder's passkey opens nothing
    hire = User.objects.get(email="hire@corp.test")
    assert claims["sub"] == str(hire.id) and not hire.has_usable_password()
    assert passkey_sign_in(authenticator).status_code == 401
    assert not UserSession.objects.filter(user=hire, revoked_at__isnull=True).exclude(auth_method="sso").exists()


def test_a_former_member_named_in_an_allow_policy_is_not_brought_back_above_the_trust(corp, corp_admin, oidc_peer):
    connection = oidc_connection_create(corp_admin, corp, oidc_peer)
    assert "billing:manage" not in SSOConnection.objects.get(id=connection["id"]).trusted_permissions
    former = UserFactory(email="cfo@corp.test", email_verified_at=clock.now())
    membership = MembershipFactory(organization=corp, user=former, role="member")
    Policy.objects.create(organization=corp, name="CFO", effect="allow", permissions=["billing:manage"], subjects={"users": [str(former.id)]})
    membership.delete()
    engine.organization_policies(corp, fresh=True)
    cache.clear()

    assert sso_as(former.email) == NOT_COVERED
    assert not Membership.objects.filter(organization=corp, user=former).exists()


def test_a_newcomer_an_everyone_policy_lifts_above_the_trust_is_refused(corp, corp_admin, oidc_peer):
    Policy.objects.create(
        organization=corp, name="All, from the office", effect="allow", permissions=["billing:manage"], conditions={"ip_ranges": ["10.99.0.0/16"]}
    )
    engine.organization_policies(corp, fresh=True)
    cache.clear()
    oidc_connection_create(corp_admin, corp, oidc_peer)

    assert sso_as("new@corp.test") == NOT_COVERED
    assert not User.objects.filter(email="new@corp.test").exists()
