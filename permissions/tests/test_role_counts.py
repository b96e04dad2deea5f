"""Role items carry member_count; roles/usage-counts counts base holders and assignments, in constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from conftest import client_for
from organizations.models import Membership
from permissions.models import Role, RoleAssignment

pytestmark = pytest.mark.django_db


def org_url(organization, suffix=""):
    return f"/api/v1/orgs/{organization.id}{suffix}"


def add_custom_roles(organization, count: int, prefix: str = "custom") -> list[Role]:
    roles = [Role.objects.create(organization=organization, slug=f"{prefix}-{n}", name=f"{prefix} {n}", permissions=["audit:read"]) for n in range(count)]
    for role in roles:
        holder = Membership.objects.create(organization=organization, user=UserFactory(), role=role.slug)
        RoleAssignment.objects.create(organization=organization, user=holder.user, role=roles[0])
    return roles


@pytest.fixture
def team(org_factory):
    organization, members = org_factory(roles=("owner", "admin", "member", "viewer"))
    return organization, members, client_for(members["viewer"].user, organization)


def test_role_items_carry_member_count(team):
    organization, members, viewer = team
    auditor = Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["audit:read"])
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=auditor)
    RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=auditor)
    Membership.objects.create(organization=organization, user=UserFactory(), role="auditor")

    listed = {role["slug"]: role for role in viewer.get(org_url(organization, "/roles")).json()["data"]}
    detail = viewer.get(org_url(organization, f"/roles/{auditor.id}")).json()

    assert {slug: role["member_count"] for slug, role in listed.items()} == {"owner": 1, "admin": 1, "member": 1, "viewer": 1, "auditor": 3}
    assert detail["member_count"] == 3


def test_a_member_holding_a_role_twice_counts_once(team):
    organization, members, viewer = team
    auditor = Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["audit:read"])
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=auditor)
    Membership.objects.filter(id=members["viewer"].id).update(role="auditor")

    assert viewer.get(org_url(organization, f"/roles/{auditor.id}")).json()["member_count"] == 1


def test_a_new_role_counts_zero(team):
    organization, members, _ = team
    owner = client_for(members["owner"].user, organization)

    response = owner.post(org_url(organization, "/roles"), {"name": "Fresh", "permissions": ["audit:read"]}, format="json")

    assert response.status_code == 201 and response.json()["member_count"] == 0


def test_usage_counts_split_members_and_assignments(team):
    organization, members, viewer = team
    auditor = Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["audit:read"])
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=auditor)
    Membership.objects.create(organization=organization, user=UserFactory(), role="auditor")

    response = viewer.get(org_url(organization, "/roles/usage-counts"))

    assert response.status_code == 200
    counts = {row["slug"]: (row["members"], row["assignments"]) for row in response.json()["data"]}
    assert counts == {"owner": (1, 0), "admin": (1, 0), "member": (1, 0), "viewer": (1, 0), "auditor": (1, 1)}
    assert {row["role_id"] for row in response.json()["data"]} == {str(r.id) for r in Role.objects.filter(organization=organization)}


def test_another_org_sees_neither(team, org_factory):
    organization, _, _ = team
    other, others = org_factory(roles=("owner",))
    stranger = client_for(others["owner"].user, other)

    assert stranger.get(org_url(organization, "/roles/usage-counts")).status_code == 404
    assert stranger.get(org_url(organization, "/roles")).status_code == 404


@pytest.mark.parametrize("path", ["/roles", "/roles/usage-counts"])
def test_role_counts_take_constant_queries(team, path, django_assert_max_num_queries):
    organization, _, viewer = team
    viewer.get(org_url(organization, path))  # warm: built-in rows, caches
    add_custom_roles(organization, 2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert viewer.get(org_url(organization, path)).status_code == 200
    add_custom_roles(organization, 8, prefix="more")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = viewer.get(org_url(organization, path))
    assert response.status_code == 200 and len(response.json()["data"]) == 14


def test_a_members_roles_take_constant_queries(team, django_assert_max_num_queries):
    # given a member holding one assigned role, listed once (warm)
    organization, members, viewer = team
    user = members["member"].user
    path = org_url(organization, f"/members/{user.id}/roles")
    roles = add_custom_roles(organization, 10, prefix="held")
    RoleAssignment.objects.create(organization=organization, user=user, role=roles[1])
    viewer.get(path)
    with CaptureQueriesContext(connection) as few:
        assert viewer.get(path).status_code == 200
    budget = len(few.captured_queries)
    # when they are assigned eight more
    for role in roles[2:]:
        RoleAssignment.objects.create(organization=organization, user=user, role=role)
    # then listing them costs no more queries
    with django_assert_max_num_queries(budget):
        response = viewer.get(path)
    assert response.status_code == 200 and len(response.json()["data"]) == 10
