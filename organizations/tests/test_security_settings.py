"""Org security settings are enforced, not just stored (API.md v1.1 invariant 9).

`require_mfa`, `allowed_email_domains`, `default_role`: each test is what an org relying on the
setting would have seen slip through on main before the fix.
"""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.sessions import session_create
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core import authz, clock, entitlements
from core.actor import Actor
from organizations.models import Domain, Invite, Membership
from permissions import apikeys
from permissions.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _unlimited_plan(monkeypatch):
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: None)


@pytest.fixture
def org(org_factory):
    return org_factory(roles=("owner", "admin", "member"))


def code_of(response) -> str:
    return response.json()["error"]["code"]


def client_with(user, organization, *, mfa: bool) -> APIClient:
    client = APIClient()
    pair = session_create(user=user, actor=Actor.for_user(user), mfa_verified=mfa, organization_id=organization.id)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    return client


def settings_patch(client, organization, settings: dict):
    return client.patch(f"/api/v1/orgs/{organization.id}/settings", {"settings": settings}, format="json")


def sign_in(email: str) -> dict:
    response = APIClient().post("/api/v1/auth/login", {"email": email, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def verified_user(email: str):
    return UserFactory(email=email, email_verified_at=clock.now())


def verified_domain(organization, name="corp.example", join_policy="auto_join") -> Domain:
    return Domain.objects.create(organization=organization, domain=name, join_policy=join_policy, verification_token="t" * 40, verified_at=clock.now())


# --- require_mfa ---------------------------------------------------------------------------------


def test_require_mfa_refuses_members_whose_session_did_not_pass_mfa(org):
    # given
    organization, members = org
    owner_mfa = client_with(members["owner"].user, organization, mfa=True)
    member_password_only = client_with(members["member"].user, organization, mfa=False)
    assert member_password_only.get(f"/api/v1/orgs/{organization.id}/members").status_code == 200  # cache warm

    # when: the owner (with MFA) switches the setting on
    assert settings_patch(owner_mfa, organization, {"require_mfa": True}).status_code == 200

    # then: the very next request of a password-only session is refused, by path and by header
    by_path = member_password_only.get(f"/api/v1/orgs/{organization.id}/members")
    by_header = member_password_only.get("/api/v1/billing/subscription", HTTP_X_ORG_ID=str(organization.id))
    assert by_path.status_code == 403 and code_of(by_path) == "MFA_REQUIRED"
    assert by_header.status_code == 403 and code_of(by_header) == "MFA_REQUIRED"
    # and an MFA session of the same member is let in
    assert client_with(members["member"].user, organization, mfa=True).get(f"/api/v1/orgs/{organization.id}/members").status_code == 200


def test_require_mfa_leaves_the_way_to_enrol_open(org):
    organization, members = org
    organization.settings = {"require_mfa": True}
    organization.save()
    client = client_with(members["member"].user, organization, mfa=False)

    assert client.get("/api/v1/users/me").status_code == 200
    assert client.post("/api/v1/auth/mfa/totp/enroll").status_code == 200


def test_require_mfa_does_not_reveal_other_orgs(org, org_factory):
    organization, members = org
    other, _ = org_factory(roles=("owner",), settings={"require_mfa": True})

    response = client_with(members["member"].user, organization, mfa=False).get(f"/api/v1/orgs/{other.id}")

    assert response.status_code == 404


def test_require_mfa_does_not_apply_to_api_keys(org):
    # API keys are not sessions: no second factor to present (their scopes/IP allow-list bound them).
    organization, members = org
    organization.settings = {"require_mfa": True}
    organization.save()
    _, secret = apikeys.api_key_create(
        organization=organization, name="ci", grantable=authz.codes(), scopes=["members:read"], created_by=members["owner"].user, actor=Actor.system()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    assert client.get(f"/api/v1/orgs/{organization.id}/members").status_code == 200


# --- allowed_email_domains --------------------------------------------------------------------------


def test_allowed_email_domains_are_normalized_and_validated(org):
    organization, members = org
    owner = client_with(members["owner"].user, organization, mfa=True)

    ok = settings_patch(owner, organization, {"allowed_email_domains": [" Corp.Example. ", "corp.example", "sub.corp.example"]})
    bad = settings_patch(owner, organization, {"allowed_email_domains": ["not a domain"]})
    not_strings = settings_patch(owner, organization, {"allowed_email_domains": [1]})

    assert ok.status_code == 200 and ok.json()["settings"]["allowed_email_domains"] == ["corp.example", "sub.corp.example"]
    assert bad.status_code == 400 and "allowed_email_domains" in bad.json()["error"]["details"]
    assert not_strings.status_code == 400 and "allowed_email_domains" in not_strings.json()["error"]["details"]


def test_invites_outside_the_allowed_domains_are_refused(org):
    # given
    organization, members = org
    admin = client_with(members["admin"].user, organization, mfa=True)
    assert (
        settings_patch(client_with(members["owner"].user, organization, mfa=True), organization, {"allowed_email_domains": ["corp.example"]}).status_code == 200
    )

    # when
    outside = admin.post(f"/api/v1/orgs/{organization.id}/invites", {"email": "friend@gmail.example", "role": "member"}, format="json")
    inside = admin.post(f"/api/v1/orgs/{organization.id}/invites", {"email": "new@CORP.example", "role": "member"}, format="json")

    # then
    assert outside.status_code == 400 and code_of(outside) == "VALIDATION_ERROR"
    assert "email" in outside.json()["error"]["details"]
    assert inside.status_code == 201, inside.content
    assert list(Invite.objects.filter(organization=organization).values_list("email", flat=True)) == ["new@corp.example"]


def test_an_invite_issued_before_the_restriction_cannot_be_accepted_after_it(org):
    # given: an invitation to an outside address, then the org restricts its domains
    organization, members = org
    admin = client_with(members["admin"].user, organization, mfa=True)
    code = admin.post(f"/api/v1/orgs/{organization.id}/invites", {"email": "friend@gmail.example", "role": "member"}, format="json").json()["code"]
    organization.refresh_from_db()
    organization.settings = {"allowed_email_domains": ["corp.example"]}
    organization.save()

    # when
    response = APIClient().post(f"/api/v1/invites/{code}/accept", {"full_name": "Friend", "password": DEFAULT_PASSWORD}, format="json")

    # then: refused, and no account left behind
    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert not User.objects.filter(email="friend@gmail.example").exists()
    assert not Invite.objects.filter(status="accepted").exists()


def test_domain_auto_join_outside_the_allowed_domains_does_not_happen(org):
    # given: a verified domain the org has since left out of its allowed list
    organization, _ = org
    verified_domain(organization, name="legacy.example")
    organization.settings = {"allowed_email_domains": ["corp.example"]}
    organization.save()
    legacy = verified_user("dana@legacy.example")

    # when
    sign_in(legacy.email)

    # then
    assert not Membership.objects.filter(organization=organization, user=legacy).exists()
    assert not Invite.objects.filter(organization=organization).exists()


# --- default_role --------------------------------------------------------------------------------------


def test_auto_joined_members_get_the_default_role(org):
    # given
    organization, members = org
    verified_domain(organization)
    assert settings_patch(client_with(members["owner"].user, organization, mfa=True), organization, {"default_role": "viewer"}).status_code == 200
    dana = verified_user("dana@corp.example")

    # when
    sign_in(dana.email)

    # then
    assert Membership.objects.get(organization=organization, user=dana).role == "viewer"


def test_domain_invite_offers_carry_the_default_role(org):
    organization, members = org
    verified_domain(organization, join_policy="invite")
    organization.settings = {"default_role": "viewer"}
    organization.save()
    dana = verified_user("dana@corp.example")

    sign_in(dana.email)

    assert Invite.objects.get(organization=organization, email=dana.email).role == "viewer"


def test_without_default_role_auto_join_is_member(org):
    organization, _ = org
    verified_domain(organization)
    dana = verified_user("dana@corp.example")

    sign_in(dana.email)

    assert Membership.objects.get(organization=organization, user=dana).role == "member"


@pytest.mark.parametrize("role", ["owner", "no-such-role"])
def test_default_role_must_be_a_role_of_the_org_other_than_owner(org, role):
    organization, members = org

    response = settings_patch(client_with(members["owner"].user, organization, mfa=True), organization, {"default_role": role})

    assert response.status_code == 400 and "default_role" in response.json()["error"]["details"]


def test_an_admin_cannot_make_newcomers_more_than_he_could_grant(org):
    # given: a custom role carrying billing:manage, which admins do not hold
    organization, members = org
    Role.objects.create(organization=organization, slug="finance", name="Finance", permissions=["billing:manage", "billing:read"])

    # when
    response = settings_patch(client_with(members["admin"].user, organization, mfa=True), organization, {"default_role": "finance"})

    # then
    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    organization.refresh_from_db()
    assert "default_role" not in organization.settings


def test_a_deleted_default_role_falls_back_to_member(org):
    organization, _ = org
    verified_domain(organization)
    organization.settings = {"default_role": "gone"}
    organization.save()
    dana = verified_user("dana@corp.example")

    sign_in(dana.email)

    assert Membership.objects.get(organization=organization, user=dana).role == "member"


def test_membership_add_applies_the_allowed_domains_to_every_way_in(org):
    from core.exceptions import ApplicationError
    from organizations.services import membership_add

    organization, _ = org
    organization.settings = {"allowed_email_domains": ["corp.example"]}
    organization.save()

    with pytest.raises(ApplicationError) as refused:
        membership_add(organization=organization, user=verified_user("x@elsewhere.example"), role="member", actor=Actor.system(), source="direct")
    joined = membership_add(organization=organization, user=verified_user("y@corp.example"), role="member", actor=Actor.system(), source="direct")

    assert refused.value.code == "VALIDATION_ERROR" and joined.role == "member"
    assert not Membership.objects.filter(organization=organization, user__email="x@elsewhere.example").exists()


def test_require_mfa_also_closes_the_websocket_to_password_only_sessions(org):
    from messaging.consumers import CLOSE_FORBIDDEN, Refused, authenticate

    organization, members = org
    organization.settings = {"require_mfa": True}
    organization.save()
    user = members["member"].user
    password_only = session_create(user=user, actor=Actor.for_user(user), mfa_verified=False, organization_id=organization.id).access_token
    with_mfa = session_create(user=user, actor=Actor.for_user(user), mfa_verified=True, organization_id=organization.id).access_token

    with pytest.raises(Refused) as refused:
        authenticate(raw_token=password_only, org_param=str(organization.id))

    assert refused.value.code == CLOSE_FORBIDDEN
    assert authenticate(raw_token=with_mfa, org_param=str(organization.id)).user == user
