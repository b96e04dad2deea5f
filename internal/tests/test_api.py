"""Each internal endpoint answers the shapes of API.md § "Internal service API"."""

import uuid
from datetime import timedelta

import pytest
from freezegun import freeze_time

from conftest import client_for
from core import clock
from internal.tests.conftest import code_of
from organizations.models import Membership
from permissions.models import Policy


@pytest.fixture
def team(org_factory):
    organization, members = org_factory(roles=("owner", "admin", "viewer"))
    return organization, members


# --- validate-token -----------------------------------------------------------------------------------


def test_validate_token_answers_the_claims_of_a_live_token(signed, team):
    # given
    organization, members = team
    user = members["viewer"].user
    tokens = client_for(user, organization).tokens

    # when
    response = signed.post("/internal/v1/validate-token", {"token": tokens["access_token"]})

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] is True
    assert body["sub"] == str(user.id)
    assert body["email"] == user.email
    assert body["org_id"] == str(organization.id)
    assert body["sid"] and isinstance(body["exp"], int)
    assert body["mfa"] is False
    assert set(body) == {"active", "sub", "email", "org_id", "sid", "exp", "mfa", "amr"}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 5000, "\u00e9.\u00e9.\u00e9", "eyJhbGciOiJub25lIn0.e30."])
def test_validate_token_answers_inactive_for_garbage(signed, token):
    response = signed.post("/internal/v1/validate-token", {"token": token})

    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_validate_token_answers_inactive_for_a_revoked_session(signed, team):
    # given: a signed-in member who logs out
    organization, members = team
    client = client_for(members["viewer"].user, organization)
    access = client.tokens["access_token"]
    assert client.post("/api/v1/auth/logout").status_code == 204

    # when
    response = signed.post("/internal/v1/validate-token", {"token": access})

    # then
    assert response.json() == {"active": False}


def test_validate_token_answers_inactive_for_a_refresh_token(signed, team):
    organization, members = team
    refresh = client_for(members["viewer"].user, organization).tokens["refresh_token"]

    response = signed.post("/internal/v1/validate-token", {"token": refresh})

    assert response.json() == {"active": False}


def test_validate_token_answers_inactive_for_an_expired_token(signed, team):
    # given
    organization, members = team
    access = client_for(members["viewer"].user, organization).tokens["access_token"]

    # when: an hour later (the request is signed at that time too)
    with freeze_time(clock.now() + timedelta(hours=1)):
        response = signed.post("/internal/v1/validate-token", {"token": access})

    # then
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_validate_token_answers_inactive_for_a_deactivated_user(signed, team):
    organization, members = team
    user = members["viewer"].user
    access = client_for(user, organization).tokens["access_token"]
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = signed.post("/internal/v1/validate-token", {"token": access})

    assert response.json() == {"active": False}


def test_validate_token_refuses_unknown_fields(signed):
    response = signed.post("/internal/v1/validate-token", {"token": "x", "extra": 1})

    assert response.status_code == 400
    assert "extra" in response.json()["error"]["details"]


# --- users, orgs, members -----------------------------------------------------------------------------


def test_user_detail(signed, team):
    # given
    _, members = team
    user = members["admin"].user

    # when
    response = signed.get(f"/internal/v1/users/{user.id}")

    # then
    assert response.status_code == 200
    assert response.json() == {
        "id": str(user.id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name,
        "email_verified": user.email_verified,
        "mfa_enabled": False,
    }


def test_unknown_user_is_404(signed):
    response = signed.get(f"/internal/v1/users/{uuid.uuid4()}")

    assert response.status_code == 404 and code_of(response) == "NOT_FOUND"


def test_org_detail_has_plan_and_features(signed, team):
    organization, _ = team

    response = signed.get(f"/internal/v1/orgs/{organization.id}")

    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("id", "name", "slug", "plan")} == {
        "id": str(organization.id),
        "name": organization.name,
        "slug": organization.slug,
        "plan": "free",
    }
    assert body["features"]["sso"] is False
    assert set(body) == {"id", "name", "slug", "plan", "features"}


def test_unknown_org_is_404(signed):
    response = signed.get(f"/internal/v1/orgs/{uuid.uuid4()}")

    assert response.status_code == 404 and code_of(response) == "ORG_NOT_FOUND"


def test_member_detail_is_the_member_item(signed, team):
    organization, members = team
    user = members["admin"].user

    response = signed.get(f"/internal/v1/orgs/{organization.id}/members/{user.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == str(user.id) and body["email"] == user.email
    assert body["role"] == "admin" and body["status"] == "active"


def test_member_of_another_org_is_404(signed, team, org_factory):
    # given: a user who belongs to another org only
    organization, _ = team
    _, others = org_factory()

    response = signed.get(f"/internal/v1/orgs/{organization.id}/members/{others['owner'].user.id}")

    assert response.status_code == 404


# --- permission checks ------------------------------------------------------------------------------------


def test_check_answers_as_the_public_check(signed, team):
    organization, members = team
    viewer = members["viewer"].user

    allowed = signed.post("/internal/v1/check", {"org_id": str(organization.id), "user_id": str(viewer.id), "permission": "members:read"})
    denied = signed.post("/internal/v1/check", {"org_id": str(organization.id), "user_id": str(viewer.id), "permission": "members:remove"})
    unknown = signed.post("/internal/v1/check", {"org_id": str(organization.id), "user_id": str(viewer.id), "permission": "nope:nope"})

    assert allowed.status_code == 200 and allowed.json()["allowed"] is True
    assert denied.json()["allowed"] is False and denied.json()["reason"]
    assert unknown.json()["allowed"] is False


@pytest.mark.parametrize(("conditions", "allowed"), [({}, True), ({"mfa_required": True}, False), ({"ip_ranges": ["0.0.0.0/0"]}, False)])
def test_check_counts_mfa_as_not_met_and_knows_no_client_ip(signed, team, conditions, allowed):
    # given: a policy that allows billing:read to viewers, maybe only with MFA or from an IP range
    organization, members = team
    Policy.objects.create(
        organization=organization, name="p", effect="allow", permissions=["billing:read"], subjects={"roles": ["viewer"]}, conditions=conditions
    )

    # when
    response = signed.post("/internal/v1/check", {"org_id": str(organization.id), "user_id": str(members["viewer"].user.id), "permission": "billing:read"})

    # then
    assert response.json()["allowed"] is allowed


def test_check_of_a_suspended_member_is_denied(signed, team):
    organization, members = team
    Membership.objects.filter(pk=members["admin"].pk).update(status=Membership.Status.SUSPENDED)

    response = signed.post("/internal/v1/check", {"org_id": str(organization.id), "user_id": str(members["admin"].user.id), "permission": "members:read"})

    assert response.status_code == 200 and response.json()["allowed"] is False


def test_check_of_a_non_member_or_unknown_org_is_404(signed, team, org_factory):
    organization, _ = team
    _, others = org_factory()
    outsider = others["owner"].user

    non_member = signed.post("/internal/v1/check", {"org_id": str(organization.id), "user_id": str(outsider.id), "permission": "org:read"})
    no_org = signed.post("/internal/v1/check", {"org_id": str(uuid.uuid4()), "user_id": str(outsider.id), "permission": "org:read"})

    assert non_member.status_code == 404
    assert no_org.status_code == 404 and code_of(no_org) == "ORG_NOT_FOUND"


def test_check_many(signed, team):
    organization, members = team

    response = signed.post(
        "/internal/v1/check-many",
        {"org_id": str(organization.id), "user_id": str(members["viewer"].user.id), "permissions": ["org:read", "org:delete"]},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["results"] == {"org:read": True, "org:delete": False}
    assert isinstance(body["revision"], int)


def test_check_bodies_are_validated(signed, team):
    organization, _ = team

    missing = signed.post("/internal/v1/check", {"org_id": str(organization.id), "permission": "org:read"})
    empty = signed.post("/internal/v1/check-many", {"org_id": str(organization.id), "user_id": str(uuid.uuid4()), "permissions": []})
    bad_uuid = signed.post("/internal/v1/check", {"org_id": "nope", "user_id": str(uuid.uuid4()), "permission": "org:read"})

    assert missing.status_code == 400 and "user_id" in missing.json()["error"]["details"]
    assert empty.status_code == 400
    assert bad_uuid.status_code == 400


# --- limits and plans ---------------------------------------------------------------------------------------


def test_check_limit(signed, team):
    organization, _ = team

    response = signed.post(f"/internal/v1/orgs/{organization.id}/check-limit", {"feature": "members"})

    assert response.status_code == 200
    assert response.json() == {"allowed": True, "used": 3, "limit": 5}


def test_check_limit_of_an_unknown_feature_is_400(signed, team):
    organization, _ = team

    response = signed.post(f"/internal/v1/orgs/{organization.id}/check-limit", {"feature": "rockets"})

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"


def test_plan_features(signed):
    response = signed.get("/internal/v1/plans/pro/features")

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == "pro"
    assert body["limits"]["max_members"] == 25
    assert body["features"]["custom_slug"] is True
    assert set(body) == {"code", "limits", "features"}


def test_unknown_plan_is_404(signed):
    response = signed.get("/internal/v1/plans/platinum/features")

    assert response.status_code == 404
