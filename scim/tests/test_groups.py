"""SCIM Groups ↔ teams: create, rename, members add/remove as Okta and Entra ID send them, delete."""

import pytest

from audit.models import AuditEvent
from organizations.models import Membership, Team, TeamMembership
from organizations.tests.factories import MembershipFactory, OrganizationFactory, TeamFactory
from scim.models import ScimGroup
from scim.tests.conftest import GROUP, LIST, scim_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(org):
    return [MembershipFactory(organization=org, user__email=f"p{n}@acme.test") for n in range(3)]


def _group(idp, name="Engineering", members=(), **fields):
    response = idp.post("Groups", {"schemas": [GROUP], "displayName": name, "members": [{"value": str(m.id)} for m in members], **fields})
    assert response.status_code == 201, response.content
    return response.json()


def _on_team(team_id) -> set[str]:
    team = Team.objects.get(id=team_id)
    return {str(m.id) for m in Membership.objects.filter(organization_id=team.organization_id, user__team_memberships__team=team)}


def test_create_a_group_with_members(idp, org, people):
    body = _group(idp, members=people[:2], externalId="okta-grp-1")

    team = Team.objects.get(id=body["id"])
    assert team.organization_id == org.id and team.name == "Engineering"
    assert body["schemas"] == [GROUP]
    assert body["externalId"] == "okta-grp-1"
    assert {member["value"] for member in body["members"]} == {str(people[0].id), str(people[1].id)}
    assert body["meta"]["location"] == f"http://testserver/scim/v2/{org.id}/Groups/{team.id}"
    actions = list(AuditEvent.objects.filter(organization_id=org.id, actor_type="scim").values_list("action", flat=True))
    assert actions.count("team.member_added") == 2 and "team.created" in actions


def test_a_taken_displayName_is_a_uniqueness_error(idp):
    _group(idp)

    assert scim_error(idp.post("Groups", {"schemas": [GROUP], "displayName": "engineering"}), 409)["scimType"] == "uniqueness"


def test_members_must_be_users_of_this_org(idp, people):
    outsider = MembershipFactory(organization=OrganizationFactory())

    response = idp.post("Groups", {"schemas": [GROUP], "displayName": "Mixed", "members": [{"value": str(people[0].id)}, {"value": str(outsider.id)}]})

    scim_error(response, 400)
    assert not Team.objects.filter(name="Mixed").exists()


def test_filter_displayName_and_exclude_members(idp, people):
    _group(idp, members=people)
    _group(idp, name="Sales")

    body = idp.get("Groups", filter='displayName eq "engineering"', excludedAttributes="members").json()

    assert body["schemas"] == [LIST] and body["totalResults"] == 1
    assert body["Resources"][0]["displayName"] == "Engineering"
    assert "members" not in body["Resources"][0]


def test_filter_members_value(idp, people):
    engineering = _group(idp, members=people[:1])
    _group(idp, name="Sales", members=people[1:])

    body = idp.get("Groups", filter=f'members[value eq "{people[0].id}"]').json()

    assert [item["id"] for item in body["Resources"]] == [engineering["id"]]


# --- Okta ---------------------------------------------------------------------------------------


def test_okta_rename_and_member_changes(idp, org, people):
    group = _group(idp, members=people[:1])

    rename = idp.patch(f"Groups/{group['id']}", [{"op": "replace", "value": {"id": group["id"], "displayName": "Platform"}}])
    add = idp.patch(f"Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": str(people[1].id), "display": "p1@acme.test"}]}])
    remove = idp.patch(f"Groups/{group['id']}", [{"op": "remove", "path": f'members[value eq "{people[0].id}"]'}])

    assert rename.status_code == add.status_code == remove.status_code == 200
    assert Team.objects.get(id=group["id"]).name == "Platform"
    assert _on_team(group["id"]) == {str(people[1].id)}
    assert AuditEvent.objects.filter(organization_id=org.id, action="team.member_removed", actor_type="scim").count() == 1


def test_okta_put_replaces_the_members(idp, people):
    group = _group(idp, members=people[:2])

    response = idp.put(f"Groups/{group['id']}", {"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": str(people[2].id)}]})

    assert response.status_code == 200, response.content
    assert _on_team(group["id"]) == {str(people[2].id)}


# --- Entra ID ----------------------------------------------------------------------------------


def test_entra_id_member_add_and_remove(idp, people):
    group = _group(idp)

    added = idp.patch(f"Groups/{group['id']}", [{"op": "Add", "path": "members", "value": [{"value": str(people[0].id)}, {"value": str(people[1].id)}]}])
    removed = idp.patch(f"Groups/{group['id']}", [{"op": "Remove", "path": "members", "value": [{"value": str(people[0].id)}]}])
    renamed = idp.patch(f"Groups/{group['id']}", [{"op": "Replace", "path": "displayName", "value": "Eng"}])

    assert added.status_code == removed.status_code == renamed.status_code == 200
    assert _on_team(group["id"]) == {str(people[1].id)}
    assert Team.objects.get(id=group["id"]).name == "Eng"


def test_adding_a_member_twice_is_harmless(idp, people):
    group = _group(idp, members=people[:1])

    response = idp.patch(f"Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": str(people[0].id)}]}])

    assert response.status_code == 200
    assert TeamMembership.objects.filter(team_id=group["id"]).count() == 1


def test_remove_all_members(idp, people):
    group = _group(idp, members=people)

    idp.patch(f"Groups/{group['id']}", [{"op": "remove", "path": "members"}])

    assert _on_team(group["id"]) == set()


def test_delete_a_group_keeps_its_members_in_the_org(idp, org, people):
    group = _group(idp, members=people)

    response = idp.delete(f"Groups/{group['id']}")

    assert response.status_code == 204
    assert not Team.objects.filter(id=group["id"]).exists()
    assert not ScimGroup.objects.filter(team_id=group["id"]).exists()
    assert Membership.objects.filter(id__in=[p.id for p in people]).count() == 3
    assert AuditEvent.objects.filter(organization_id=org.id, action="team.deleted", actor_type="scim").exists()


def test_teams_made_otherwise_are_groups_too(idp, org, people):
    team = TeamFactory(organization=org, name="Founders")
    team.members.add(people[0].user)

    body = idp.get(f"Groups/{team.id}").json()

    assert body["displayName"] == "Founders"
    assert [member["value"] for member in body["members"]] == [str(people[0].id)]


def test_the_owner_is_not_put_on_or_taken_off_teams(idp, org, owner):
    group = _group(idp)

    scim_error(idp.patch(f"Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": str(owner.id)}]}]), 403)
    team = Team.objects.get(id=group["id"])
    team.members.add(owner.user)
    scim_error(idp.patch(f"Groups/{group['id']}", [{"op": "remove", "path": f'members[value eq "{owner.id}"]'}]), 403)

    assert _on_team(group["id"]) == {str(owner.id)}


def test_the_group_list_takes_a_constant_number_of_queries(idp, org, people, django_assert_max_num_queries):
    _group(idp, members=people)
    idp.get("Groups")
    with django_assert_max_num_queries(14) as few:
        idp.get("Groups")
    for _n in range(10):
        team = TeamFactory(organization=org)
        team.members.add(*[p.user for p in people])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = idp.get("Groups")

    assert response.json()["totalResults"] == 11
    assert all(len(item["members"]) == 3 for item in response.json()["Resources"])
