"""Teams: CRUD, members, my-teams, permissions, query counts and isolation between organizations."""

import pytest

from audit.models import AuditEvent
from conftest import client_for
from organizations.models import Membership, Organization, Team, TeamMembership
from organizations.tests.factories import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


def code_of(response) -> str:
    return response.json()["error"]["code"]


def teams_url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.id}/teams{suffix}"


# --- teams ------------------------------------------------------------------------------------


def test_create_team(org, admin_client):
    organization, _ = org
    response = admin_client.post(teams_url(organization), {"name": "  Platform ", "description": "Infra"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Platform" and body["description"] == "Infra" and body["member_count"] == 0
    team = Team.objects.get(id=body["id"])
    assert team.organization_id == organization.id
    assert AuditEvent.objects.filter(action="team.created", target_id=str(team.id), organization_id=organization.id).exists()


def test_duplicate_team_name_is_conflict_case_insensitively(org, admin_client):
    organization, _ = org
    TeamFactory(organization=organization, name="Platform")
    response = admin_client.post(teams_url(organization), {"name": "platform"}, format="json")
    assert response.status_code == 409 and code_of(response) == "CONFLICT"
    assert Team.objects.filter(organization=organization).count() == 1


def test_same_name_in_another_org_is_fine(org, admin_client, org_factory):
    organization, _ = org
    other, _ = org_factory()
    TeamFactory(organization=other, name="Platform")
    assert admin_client.post(teams_url(organization), {"name": "Platform"}, format="json").status_code == 201


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": "ok", "description": "d" * 1001}])
def test_bad_team_input_is_400(org, admin_client, payload):
    organization, _ = org
    response = admin_client.post(teams_url(organization), payload, format="json")
    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert not Team.objects.exists()


def test_viewer_reads_but_cannot_manage(org):
    organization, members = org
    team = TeamFactory(organization=organization)
    client = client_for(members["viewer"].user, organization)
    assert client.get(teams_url(organization)).status_code == 200
    assert client.get(teams_url(organization, f"/{team.id}")).status_code == 200
    assert client.get(teams_url(organization, f"/{team.id}/members")).status_code == 200
    for response in (
        client.post(teams_url(organization), {"name": "Mine"}, format="json"),
        client.patch(teams_url(organization, f"/{team.id}"), {"name": "Renamed"}, format="json"),
        client.delete(teams_url(organization, f"/{team.id}")),
        client.post(teams_url(organization, f"/{team.id}/members"), {"user_id": str(members["viewer"].user_id)}, format="json"),
    ):
        assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert Team.objects.get(id=team.id).name == team.name and not TeamMembership.objects.exists()


def test_get_update_delete_team(org, admin_client):
    organization, members = org
    team = TeamFactory(organization=organization, name="Old")
    TeamFactory(organization=organization, name="Taken")
    TeamMembership.objects.create(team=team, user=members["member"].user)
    got = admin_client.get(teams_url(organization, f"/{team.id}")).json()
    assert got["name"] == "Old" and got["member_count"] == 1
    renamed = admin_client.patch(teams_url(organization, f"/{team.id}"), {"name": "New", "description": "d"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "New" and renamed.json()["description"] == "d"
    assert AuditEvent.objects.get(action="team.updated").changes["name"] == ["Old", "New"]
    clash = admin_client.patch(teams_url(organization, f"/{team.id}"), {"name": "TAKEN"}, format="json")
    assert clash.status_code == 409
    assert admin_client.patch(teams_url(organization, f"/{team.id}"), {"name": "new"}, format="json").status_code == 200  # own name, new case
    assert admin_client.delete(teams_url(organization, f"/{team.id}")).status_code == 204
    assert not Team.objects.filter(id=team.id).exists()
    assert Membership.objects.filter(organization=organization, user=members["member"].user).exists()
    assert AuditEvent.objects.filter(action="team.deleted", target_id=str(team.id)).exists()
    assert admin_client.get(teams_url(organization, f"/{team.id}")).status_code == 404


def test_team_list_is_paginated_with_constant_queries(org, admin_client, django_assert_max_num_queries):
    organization, members = org

    def grow(to: int):
        for n in range(Team.objects.count(), to):
            team = TeamFactory(organization=organization, name=f"Team {n:03d}")
            TeamMembership.objects.create(team=team, user=members["member"].user)

    grow(10)
    with django_assert_max_num_queries(10):
        body = admin_client.get(teams_url(organization) + "?limit=100").json()
    assert body["total"] == 10 and body["data"][0]["member_count"] == 1
    grow(60)
    with django_assert_max_num_queries(10):
        body = admin_client.get(teams_url(organization) + "?limit=100").json()
    assert body["total"] == 60 and body["total_pages"] == 1


# --- team members ---------------------------------------------------------------------------


def test_add_list_and_remove_team_members(org, admin_client):
    organization, members = org
    team = TeamFactory(organization=organization)
    member = members["member"].user
    before = Organization.objects.get(id=organization.id).authz_revision
    added = admin_client.post(teams_url(organization, f"/{team.id}/members"), {"user_id": str(member.id)}, format="json")
    assert added.status_code == 201, added.content
    assert added.json()["user_id"] == str(member.id) and added.json()["email"] == member.email and added.json()["role"] == "member"
    assert Organization.objects.get(id=organization.id).authz_revision > before  # team-subject policies re-evaluate
    listed = admin_client.get(teams_url(organization, f"/{team.id}/members")).json()
    assert listed["total"] == 1 and listed["data"][0]["user_id"] == str(member.id) and listed["data"][0]["role"] == "member"
    again = admin_client.post(teams_url(organization, f"/{team.id}/members"), {"user_id": str(member.id)}, format="json")
    assert again.status_code == 409
    removed = admin_client.delete(teams_url(organization, f"/{team.id}/members/{member.id}"))
    assert removed.status_code == 204 and not TeamMembership.objects.exists()
    assert admin_client.delete(teams_url(organization, f"/{team.id}/members/{member.id}")).status_code == 404
    actions = list(AuditEvent.objects.filter(target_id=str(team.id)).values_list("action", flat=True))
    assert "team.member_added" in actions and "team.member_removed" in actions


def test_only_active_members_of_the_org_can_join_a_team(org, admin_client, org_factory, user):
    organization, _ = org
    team = TeamFactory(organization=organization)
    suspended = MembershipFactory(organization=organization, status="suspended").user
    _, foreign_members = org_factory()
    for candidate in (user.id, suspended.id, foreign_members["owner"].user_id, "00000000-0000-0000-0000-000000000000"):
        response = admin_client.post(teams_url(organization, f"/{team.id}/members"), {"user_id": str(candidate)}, format="json")
        assert response.status_code == 400 and "user_id" in response.json()["error"]["details"]
    bad = admin_client.post(teams_url(organization, f"/{team.id}/members"), {"user_id": "nope"}, format="json")
    assert bad.status_code == 400
    assert not TeamMembership.objects.exists()


def test_team_member_list_query_count_is_constant(org, admin_client, django_assert_max_num_queries):
    organization, _ = org
    team = TeamFactory(organization=organization)

    def grow(to: int):
        for _ in range(team.memberships.count(), to):
            TeamMembership.objects.create(team=team, user=MembershipFactory(organization=organization).user)

    grow(10)
    with django_assert_max_num_queries(10):
        assert admin_client.get(teams_url(organization, f"/{team.id}/members?limit=100")).json()["total"] == 10
    grow(60)
    with django_assert_max_num_queries(10):
        assert admin_client.get(teams_url(organization, f"/{team.id}/members?limit=100")).json()["total"] == 60


def test_my_teams_lists_only_mine_unpaginated(org, django_assert_max_num_queries):
    organization, members = org
    me = members["viewer"].user
    mine = [TeamFactory(organization=organization, name=f"Mine {n:02d}") for n in range(3)]
    TeamFactory(organization=organization, name="Not mine")
    for team in mine:
        TeamMembership.objects.create(team=team, user=me)
    client = client_for(me, organization)
    with django_assert_max_num_queries(8):
        body = client.get(f"/api/v1/orgs/{organization.id}/my-teams").json()
    assert set(body) == {"data"} and [t["name"] for t in body["data"]] == ["Mine 00", "Mine 01", "Mine 02"]
    for n in range(3, 40):
        TeamMembership.objects.create(team=TeamFactory(organization=organization, name=f"Mine {n:02d}"), user=me)
    with django_assert_max_num_queries(8):
        assert len(client.get(f"/api/v1/orgs/{organization.id}/my-teams").json()["data"]) == 40


# --- isolation --------------------------------------------------------------------------------


def test_another_orgs_teams_are_invisible_and_untouchable(org, admin_client, org_factory):
    organization, members = org
    other, other_members = org_factory(roles=("owner", "member"))
    theirs = TeamFactory(organization=other, name="Theirs", description="keep")
    their_member = other_members["member"].user
    TeamMembership.objects.create(team=theirs, user=their_member)
    mine_user = members["member"].user
    requests = []
    for org_in_path in (other, organization):
        base = teams_url(org_in_path, f"/{theirs.id}")
        requests += [
            admin_client.get(base),
            admin_client.patch(base, {"name": "Hijacked"}, format="json"),
            admin_client.delete(base),
            admin_client.get(base + "/members"),
            admin_client.post(base + "/members", {"user_id": str(mine_user.id)}, format="json"),
            admin_client.delete(base + f"/members/{their_member.id}"),
        ]
    requests += [
        admin_client.get(teams_url(other)),
        admin_client.post(teams_url(other), {"name": "Planted"}, format="json"),
        admin_client.get(f"/api/v1/orgs/{other.id}/my-teams"),
    ]
    assert [r.status_code for r in requests] == [404] * len(requests)
    assert "Theirs" not in str(admin_client.get(teams_url(organization)).json())
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and theirs.description == "keep"
    assert list(TeamMembership.objects.filter(team=theirs).values_list("user_id", flat=True)) == [their_member.id]
    assert list(Team.objects.filter(organization=other)) == [theirs]
