import pytest

from accounts.models import UserSession
from audit.models import AuditEvent
from conftest import client_for
from organizations.models import Membership, Organization
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")


def code_of(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def team(org_factory):
    organization, members = org_factory(roles=ROLES)
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients


def url(organization, suffix=""):
    return f"/api/v1/orgs/{organization.id}{suffix}"


# --- org detail, settings, stats, delete ------------------------------------------------------


def test_get_org_shows_my_role(team):
    organization, _, clients = team
    body = clients["viewer"].get(url(organization)).json()
    assert body["id"] == str(organization.id) and body["role"] == "viewer"


def test_update_org_audits_changes(team):
    organization, members, clients = team
    response = clients["admin"].patch(url(organization), {"name": "Renamed", "website": "https://r.example.com"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"
    event = AuditEvent.objects.get(action="org.updated")
    assert event.changes["name"] == [organization.name, "Renamed"]
    assert event.actor_id == members["admin"].user_id


def test_update_org_slug_conflict_and_validation(team, org_factory, unlimited_plan):
    organization, _, clients = team
    other, _ = org_factory()
    assert clients["owner"].patch(url(organization), {"slug": other.slug}, format="json").status_code == 409
    assert clients["owner"].patch(url(organization), {"slug": "Bad Slug"}, format="json").status_code == 400
    assert clients["owner"].patch(url(organization), {"slug": "fresh-slug"}, format="json").json()["slug"] == "fresh-slug"


def test_slug_change_needs_the_custom_slug_feature(team, monkeypatch):
    from core import entitlements

    organization, _, clients = team
    monkeypatch.setattr(entitlements.entitlement_feature, "provider", lambda organization, name: name != "custom_slug")
    response = clients["owner"].patch(url(organization), {"slug": "another-slug"}, format="json")
    assert response.status_code == 402 and code_of(response) == "PLAN_UPGRADE_REQUIRED"
    organization.refresh_from_db()
    assert organization.slug != "another-slug"


def test_member_and_viewer_cannot_update_org(team):
    organization, _, clients = team
    for role in ("member", "viewer"):
        response = clients[role].patch(url(organization), {"name": "Nope"}, format="json")
        assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"


def test_settings_validated_and_merged(team):
    organization, _, clients = team
    # require_mfa stays false here: true would (rightly) lock these password-only sessions out.
    ok = clients["admin"].patch(url(organization, "/settings"), {"settings": {"timezone": "Europe/Paris", "require_mfa": False}}, format="json")
    assert ok.status_code == 200
    assert ok.json()["settings"] == {"timezone": "Europe/Paris", "require_mfa": False}
    removed = clients["admin"].patch(url(organization, "/settings"), {"settings": {"timezone": None}}, format="json")
    assert removed.json()["settings"] == {"require_mfa": False}
    bad = clients["admin"].patch(url(organization, "/settings"), {"settings": {"unknown": 1, "require_mfa": "yes"}}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]) == {"unknown", "require_mfa"}
    assert clients["viewer"].get(url(organization, "/settings")).json()["settings"] == {"require_mfa": False}


def test_stats(team):
    organization, _, clients = team
    body = clients["viewer"].get(url(organization, "/stats")).json()
    assert body["members"] == 4 and body["active_members"] == 4 and body["teams"] == 0


def test_delete_org_owner_only_with_confirmation(team):
    organization, _, clients = team
    assert clients["admin"].delete(url(organization), {"confirm": organization.slug}, format="json").status_code == 403
    wrong = clients["owner"].delete(url(organization), {"confirm": "nope"}, format="json")
    assert wrong.status_code == 400 and "confirm" in wrong.json()["error"]["details"]
    assert clients["owner"].delete(url(organization), {"confirm": organization.slug}, format="json").status_code == 204
    assert not Organization.objects.filter(id=organization.id).exists()
    assert AuditEvent.objects.filter(action="org.deleted", organization_id=organization.id).exists()


# --- members ---------------------------------------------------------------------------------


def test_member_list_shape_search_and_filters(team):
    organization, members, clients = team
    body = clients["viewer"].get(url(organization, "/members")).json()
    assert body["total"] == 4
    item = body["data"][0]
    assert set(item) >= {"user_id", "email", "full_name", "avatar_url", "role", "status", "joined_at"}
    admin_email = members["admin"].user.email
    found = clients["viewer"].get(url(organization, f"/members?search={admin_email[:6]}")).json()
    assert admin_email in {m["email"] for m in found["data"]}
    by_role = clients["viewer"].get(url(organization, "/members?role=admin")).json()
    assert [m["role"] for m in by_role["data"]] == ["admin"]
    assert clients["viewer"].get(url(organization, "/members?status=bogus")).status_code == 400


def test_member_list_query_count_constant(team, django_assert_max_num_queries):
    organization, _, clients = team
    for _ in range(60):
        MembershipFactory(organization=organization)
    with django_assert_max_num_queries(9):
        response = clients["viewer"].get(url(organization, "/members?limit=100"))
    assert response.json()["total"] == 64


def test_change_role_and_audit(team):
    organization, members, clients = team
    target = members["member"]
    response = clients["admin"].patch(url(organization, f"/members/{target.user_id}"), {"role": "viewer"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "viewer"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.target_type == "user" and event.target_id == str(target.user_id)
    assert event.changes == {"role": ["member", "viewer"]}
    # The new role takes effect at once (authorization revision bumped).
    assert clients["member"].get(url(organization, "/members")).status_code == 200
    assert clients["member"].patch(url(organization), {"name": "x"}, format="json").status_code == 403


def test_nobody_grants_owner_or_demotes_the_owner(team):
    organization, members, clients = team
    grant = clients["admin"].patch(url(organization, f"/members/{members['member'].user_id}"), {"role": "owner"}, format="json")
    assert grant.status_code == 403
    demote = clients["admin"].patch(url(organization, f"/members/{members['owner'].user_id}"), {"role": "member"}, format="json")
    assert demote.status_code == 403
    suspend = clients["admin"].patch(url(organization, f"/members/{members['owner'].user_id}"), {"status": "suspended"}, format="json")
    assert suspend.status_code == 403
    assert Membership.objects.get(id=members["owner"].id).role == "owner"


def test_unknown_role_is_400(team):
    organization, members, clients = team
    response = clients["admin"].patch(url(organization, f"/members/{members['member'].user_id}"), {"role": "ghost"}, format="json")
    assert response.status_code == 400 and "role" in response.json()["error"]["details"]


def test_suspended_member_gets_invalid_org_context_everywhere(team):
    organization, members, clients = team
    response = clients["admin"].patch(url(organization, f"/members/{members['member'].user_id}"), {"status": "suspended"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    blocked = clients["member"].get(url(organization))
    assert blocked.status_code == 403 and code_of(blocked) == "INVALID_ORG_CONTEXT"
    header = clients["member"].get("/api/v1/users/me", HTTP_X_ORG_ID=str(organization.id))
    assert header.status_code == 200  # not an org-scoped route
    clients["admin"].patch(url(organization, f"/members/{members['member'].user_id}"), {"status": "active"}, format="json")
    assert clients["member"].get(url(organization)).status_code == 200
    assert AuditEvent.objects.filter(action__in=["member.suspended", "member.reactivated"]).count() == 2


def test_remove_member(team):
    organization, members, clients = team
    target = members["viewer"]
    assert clients["admin"].delete(url(organization, f"/members/{target.user_id}")).status_code == 204
    assert not Membership.objects.filter(id=target.id).exists()
    assert clients["viewer"].get(url(organization)).status_code == 404
    assert clients["admin"].delete(url(organization, f"/members/{members['owner'].user_id}")).status_code == 403
    assert clients["member"].delete(url(organization, f"/members/{members['admin'].user_id}")).status_code == 403
    assert clients["admin"].delete(url(organization, f"/members/{target.user_id}")).status_code == 404


def test_transfer_ownership(team):
    organization, members, clients = team
    assert clients["admin"].post(url(organization, "/transfer-ownership"), {"user_id": str(members["member"].user_id)}, format="json").status_code == 403
    response = clients["owner"].post(url(organization, "/transfer-ownership"), {"user_id": str(members["member"].user_id)}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "owner"
    roles = dict(Membership.objects.filter(organization=organization).values_list("user_id", "role"))
    assert roles[members["owner"].user_id] == "admin" and roles[members["member"].user_id] == "owner"
    assert list(roles.values()).count("owner") == 1
    assert AuditEvent.objects.filter(action="org.ownership_transferred").count() == 1


def test_transfer_to_a_stranger_or_myself_is_400(team, user):
    organization, members, clients = team
    assert clients["owner"].post(url(organization, "/transfer-ownership"), {"user_id": str(user.id)}, format="json").status_code == 400
    assert clients["owner"].post(url(organization, "/transfer-ownership"), {"user_id": str(members["owner"].user_id)}, format="json").status_code == 400
    assert clients["owner"].post(url(organization, "/transfer-ownership"), {"user_id": "nope"}, format="json").status_code == 400


def test_leave(team):
    organization, members, clients = team
    owner_leave = clients["owner"].post(url(organization, "/leave"))
    assert owner_leave.status_code == 409 and code_of(owner_leave) == "CONFLICT"
    assert clients["member"].post(url(organization, "/leave")).status_code == 204
    assert not Membership.objects.filter(id=members["member"].id).exists()
    assert AuditEvent.objects.filter(action="member.left").count() == 1
    session = UserSession.objects.filter(user=members["member"].user).first()
    assert session.organization_id is None


def test_profile(team):
    organization, members, clients = team
    response = clients["viewer"].patch(url(organization, "/profile"), {"display_name": "V", "title": "Observer"}, format="json")
    assert response.status_code == 200
    assert clients["viewer"].get(url(organization, "/profile")).json()["title"] == "Observer"
    too_long = clients["viewer"].patch(url(organization, "/profile"), {"title": "x" * 101}, format="json")
    assert too_long.status_code == 400


# --- org context -----------------------------------------------------------------------------


def test_non_member_gets_404_for_path_org(team, user):
    organization, _, _ = team
    outsider = client_for(user)
    response = outsider.get(url(organization))
    assert response.status_code == 404 and code_of(response) == "ORG_NOT_FOUND"
    assert outsider.get("/api/v1/orgs/00000000-0000-4000-8000-000000000000").status_code == 404
