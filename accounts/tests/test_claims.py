"""Access-token claims `email` and `permissions` (effective at issue time; display only)."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.sessions import session_create
from accounts.staff import impersonation_start
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.actor import Actor, Principal
from organizations.models import Membership
from permissions.models import Policy

REFRESH = "/api/v1/auth/refresh"


def sign_in(user, organization=None) -> dict:
    body = {"email": user.email, "password": DEFAULT_PASSWORD}
    if organization is not None:
        body["organization_id"] = str(organization.id)
    response = APIClient().post("/api/v1/auth/login", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def claims_of(body: dict) -> AccessToken:
    return AccessToken(body["access_token"])


def test_claims_carry_email_and_the_members_effective_permissions(org_factory):
    # given
    organization, members = org_factory(roles=("owner", "viewer"))
    viewer = members["viewer"].user
    # when
    body = sign_in(viewer, organization)
    # then
    claims = claims_of(body)
    assert claims["email"] == viewer.email
    permissions = claims["permissions"]
    assert permissions == sorted(permissions)
    assert {"org:read", "members:read"} <= set(permissions)
    assert "members:invite" not in permissions
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    shown = client.get(f"/api/v1/orgs/{organization.id}/me/permissions").json()["data"]
    assert permissions == shown


def test_owner_holds_more_than_viewer(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))

    owner = set(claims_of(sign_in(members["owner"].user, organization))["permissions"])
    viewer = set(claims_of(sign_in(members["viewer"].user, organization))["permissions"])

    assert viewer < owner
    assert {"org:delete", "billing:manage"} <= owner


def test_user_without_org_has_email_and_no_permissions(user):
    claims = claims_of(sign_in(user))

    assert claims["email"] == user.email
    assert claims["org_id"] is None
    assert claims["permissions"] == []


def test_permissions_follow_the_sessions_mfa(org_factory):
    # given: a deny on org:update unless the session passed MFA
    organization, members = org_factory(roles=("owner",))
    owner = members["owner"].user
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})
    # when
    plain = claims_of({"access_token": session_create(user=owner, actor=Actor.for_user(owner), organization_id=organization.id).access_token})
    verified = claims_of(
        {"access_token": session_create(user=owner, actor=Actor.for_user(owner), mfa_verified=True, organization_id=organization.id).access_token}
    )
    # then
    assert "org:update" not in plain["permissions"]
    assert "org:update" in verified["permissions"]


def test_suspended_member_claims_no_permissions(org_factory):
    # given
    organization, members = org_factory(roles=("owner", "admin"))
    admin = members["admin"]
    pair = session_create(user=admin.user, actor=Actor.for_user(admin.user), organization_id=organization.id)
    assert claims_of({"access_token": pair.access_token})["permissions"]
    admin.status = Membership.Status.SUSPENDED
    admin.save()
    # when
    refreshed = APIClient().post(REFRESH, {"refresh_token": pair.refresh_token}, format="json")
    # then
    assert refreshed.status_code == 200
    assert claims_of(refreshed.json())["permissions"] == []


def test_refresh_recomputes_permissions_after_a_policy_change(org_factory):
    # given
    organization, members = org_factory(roles=("owner", "admin"))
    body = sign_in(members["admin"].user, organization)
    assert "members:invite" in claims_of(body)["permissions"]
    Policy.objects.create(organization=organization, name="no invites", effect="deny", permissions=["members:invite"], subjects={"roles": ["admin"]})
    organization.authz_revision += 1
    organization.save()
    # when
    refreshed = APIClient().post(REFRESH, {"refresh_token": body["refresh_token"]}, format="json")
    # then
    assert refreshed.status_code == 200
    assert "members:invite" not in claims_of(refreshed.json())["permissions"]


@pytest.mark.django_db
def test_refresh_stays_cheap(org_factory, django_assert_max_num_queries):
    # given: a warm cache (one refresh already done)
    organization, members = org_factory(roles=("owner",))
    body = sign_in(members["owner"].user, organization)
    first = APIClient().post(REFRESH, {"refresh_token": body["refresh_token"]}, format="json").json()
    # when / then: the session read and its rotation only; the permissions claim comes from the cache
    with django_assert_max_num_queries(2):
        response = APIClient().post(REFRESH, {"refresh_token": first["refresh_token"]}, format="json")
    assert response.status_code == 200


def test_impersonation_token_claims_the_targets_email_and_permissions(org_factory):
    # given
    organization, members = org_factory(roles=("owner", "viewer"))
    target = members["viewer"].user
    staff = UserFactory(is_staff=True)
    staff_pair = session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True)
    staff_actor = Actor(principal=Principal.from_claims(staff, AccessToken(staff_pair.access_token).payload))
    # when
    _, pair = impersonation_start(actor=staff_actor, user_id=target.id, reason="support ticket 42")
    # then
    claims = claims_of({"access_token": pair.access_token})
    assert claims["email"] == target.email
    assert claims["act"]["email"] == staff.email
    assert "org:read" in claims["permissions"]
    assert "members:invite" not in claims["permissions"]
