"""Roles, role permissions and role assignments through the API."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from organizations.models import Organization
from organizations.tests.factories import MembershipFactory
from permissions import engine
from permissions.models import Policy, Role, RoleAssignment
from permissions.tests.helpers import code_of, org_url, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(org_factory):
    return org_factory(roles=("owner", "admin", "member", "viewer"))


def revision(organization) -> int:
    return Organization.objects.get(id=organization.id).authz_revision


def make_role(organization, slug="support", permissions=("members:read",), **fields) -> Role:
    return Role.objects.create(organization=organization, slug=slug, name=fields.pop("name", slug.title()), permissions=list(permissions), **fields)


def builtin_ids(client, organization) -> dict[str, str]:
    return {r["slug"]: r["id"] for r in client.get(org_url(organization, "roles")).json()["data"] if r["is_builtin"]}


# --- listing and built-in roles ---------------------------------------------------------------


def test_builtin_roles_are_listed_for_every_org_with_ids_and_code_permissions(org):
    organization, members = org
    client = token_client(members["viewer"].user, organization)

    response = client.get(org_url(organization, "roles"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["slug"] for r in body["data"]] == ["owner", "admin", "member", "viewer"]
    assert body["total"] == 4 and body["page"] == 1 and body["total_pages"] == 1
    for role in body["data"]:
        assert role["is_builtin"] is True
        assert uuid.UUID(role["id"])
        assert role["permissions"] == sorted(engine.builtin_permissions(role["slug"]))
    # Materialized once: listing again creates nothing.
    client.get(org_url(organization, "roles"))
    assert Role.objects.filter(organization=organization).count() == 4


def test_builtin_role_permissions_ignore_the_stored_column(org):
    organization, members = org
    client = token_client(members["owner"].user, organization)
    ids = builtin_ids(client, organization)
    Role.objects.filter(id=ids["viewer"]).update(permissions=["org:delete", "billing:manage"])

    detail = client.get(org_url(organization, f"roles/{ids['viewer']}")).json()
    codes = client.get(org_url(organization, f"roles/{ids['viewer']}/permissions")).json()

    assert detail["permissions"] == sorted(engine.builtin_permissions("viewer"))
    assert codes == {"data": sorted(engine.builtin_permissions("viewer"))}


def test_builtin_roles_are_read_only(org):
    organization, members = org
    client = token_client(members["owner"].user, organization)
    ids = builtin_ids(client, organization)
    before = revision(organization)

    patch = client.patch(org_url(organization, f"roles/{ids['member']}"), {"name": "Renamed"}, format="json")
    delete = client.delete(org_url(organization, f"roles/{ids['viewer']}"))
    put = client.put(org_url(organization, f"roles/{ids['admin']}/permissions"), {"permissions": ["org:read"]}, format="json")

    assert (patch.status_code, delete.status_code, put.status_code) == (403, 403, 403)
    assert {code_of(patch), code_of(delete), code_of(put)} == {"INSUFFICIENT_PERMISSIONS"}
    assert Role.objects.get(id=ids["member"]).name == "Member"
    assert Role.objects.filter(id=ids["viewer"]).exists()
    assert revision(organization) == before


def test_roles_list_needs_members_read(org):
    organization, members = org
    nobody = MembershipFactory(organization=organization, role="nothing")
    make_role(organization, slug="nothing", permissions=())

    response = token_client(nobody.user, organization).get(org_url(organization, "roles"))

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"


def test_roles_list_is_paginated_and_query_count_is_constant(org, django_assert_max_num_queries):
    organization, members = org
    client = token_client(members["admin"].user, organization)
    for i in range(3):
        make_role(organization, slug=f"r{i}")
    client.get(org_url(organization, "roles"))  # warm the authorization cache and built-in rows
    with CaptureQueriesContext(connection) as few:
        client.get(org_url(organization, "roles?limit=100"))
    few = len(few)  # now: every request resets the connection's query log
    for i in range(3, 30):
        make_role(organization, slug=f"r{i}")
    client.get(org_url(organization, "roles"))  # the revision did not move: roles were made directly
    with django_assert_max_num_queries(few):
        response = client.get(org_url(organization, "roles?limit=100"))

    assert response.json()["total"] == 34
    page = client.get(org_url(organization, "roles?limit=10&page=2")).json()
    assert page["limit"] == 10 and page["page"] == 2 and page["total_pages"] == 4 and len(page["data"]) == 10


# --- custom roles -----------------------------------------------------------------------------


def test_create_custom_role(org):
    organization, members = org
    client = token_client(members["admin"].user, organization)
    before = revision(organization)

    response = client.post(
        org_url(organization, "roles"),
        {"name": "Support", "slug": "support", "description": "Helps members", "permissions": ["members:read", "members:update", "members:read"]},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "support" and body["is_builtin"] is False
    assert body["permissions"] == ["members:read", "members:update"]
    assert revision(organization) > before
    event = AuditEvent.objects.get(action="role.created")
    assert event.actor_id == members["admin"].user_id and event.organization_id == organization.id
    assert event.target_id == body["id"] and event.changes["permissions"] == [None, ["members:read", "members:update"]]
    listed = client.get(org_url(organization, "roles")).json()["data"]
    assert [r["slug"] for r in listed][-1] == "support"


def test_create_role_generates_the_slug_from_the_name(org):
    organization, members = org
    client = token_client(members["owner"].user, organization)

    response = client.post(org_url(organization, "roles"), {"name": "Billing Team", "permissions": []}, format="json")

    assert response.status_code == 201 and response.json()["slug"] == "billing-team"


def test_create_role_duplicate_slug_is_conflict(org):
    organization, members = org
    make_role(organization, slug="support")

    response = token_client(members["owner"].user, organization).post(
        org_url(organization, "roles"), {"name": "Other", "slug": "support", "permissions": []}, format="json"
    )

    assert response.status_code == 409 and code_of(response) == "CONFLICT"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Admin", "slug": "admin", "permissions": []}, "slug"),
        ({"name": "Owner", "permissions": []}, "slug"),
        ({"name": "X", "slug": "Bad Slug!", "permissions": []}, "slug"),
        ({"name": "X", "slug": "x", "permissions": ["org:read", "nope:nope", "also:unknown"]}, "permissions"),
        ({"name": "X", "slug": "x", "permissions": ["*"]}, "permissions"),
        ({"name": "", "slug": "x", "permissions": []}, "name"),
        ({"name": "X", "slug": "x"}, "permissions"),
        ({"name": "X", "slug": "x", "permissions": [], "is_builtin": True}, "is_builtin"),
    ],
)
def test_create_role_bad_input(org, body, field):
    organization, members = org

    response = token_client(members["owner"].user, organization).post(org_url(organization, "roles"), body, format="json")

    assert response.status_code == 400, response.content
    assert code_of(response) == "VALIDATION_ERROR" and field in response.json()["error"]["details"]
    assert not Role.objects.filter(organization=organization, is_builtin=False).exists()


def test_unknown_permissions_are_named(org):
    organization, members = org

    response = token_client(members["owner"].user, organization).post(
        org_url(organization, "roles"), {"name": "X", "permissions": ["org:read", "nope:nope"]}, format="json"
    )

    assert "nope:nope" in response.json()["error"]["details"]["permissions"][0]
    assert "org:read" not in response.json()["error"]["details"]["permissions"][0]


def test_cannot_create_a_role_with_permissions_you_do_not_hold(org):
    organization, members = org

    response = token_client(members["admin"].user, organization).post(
        org_url(organization, "roles"), {"name": "Boss", "permissions": ["org:read", "org:delete", "org:transfer"]}, format="json"
    )

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert "org:delete" in response.json()["error"]["message"]
    assert not Role.objects.filter(organization=organization, slug="boss").exists()
    owner = token_client(members["owner"].user, organization).post(
        org_url(organization, "roles"), {"name": "Boss", "permissions": ["org:read", "org:delete"]}, format="json"
    )
    assert owner.status_code == 201


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_writes_need_roles_manage(org, role):
    organization, members = org
    custom = make_role(organization)
    client = token_client(members[role].user, organization)

    responses = [
        client.post(org_url(organization, "roles"), {"name": "X", "permissions": []}, format="json"),
        client.patch(org_url(organization, f"roles/{custom.id}"), {"name": "Y"}, format="json"),
        client.delete(org_url(organization, f"roles/{custom.id}")),
        client.put(org_url(organization, f"roles/{custom.id}/permissions"), {"permissions": []}, format="json"),
        client.post(org_url(organization, "role-assignments"), {"user_id": str(members["viewer"].user_id), "role_id": str(custom.id)}, format="json"),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assert Role.objects.get(id=custom.id).name == "Support"


def test_get_patch_custom_role(org):
    organization, members = org
    custom = make_role(organization, permissions=("members:read",))
    client = token_client(members["admin"].user, organization)
    before = revision(organization)

    got = client.get(org_url(organization, f"roles/{custom.id}"))
    patched = client.patch(
        org_url(organization, f"roles/{custom.id}"),
        {"name": "Helpdesk", "description": "First line", "slug": "support", "permissions": ["members:read", "members:invite"]},
        format="json",
    )

    assert got.status_code == 200 and got.json()["slug"] == "support"
    assert patched.status_code == 200, patched.content
    body = patched.json()
    assert body["name"] == "Helpdesk" and body["description"] == "First line" and body["permissions"] == ["members:invite", "members:read"]
    assert revision(organization) > before
    updated = AuditEvent.objects.get(action="role.updated")
    assert updated.changes == {"name": ["Support", "Helpdesk"], "description": ["", "First line"]}
    changed = AuditEvent.objects.get(action="role.permissions_changed")
    assert changed.changes == {"permissions": [["members:read"], ["members:invite", "members:read"]]}


def test_patch_role_cannot_change_slug_or_take_unknown_keys(org):
    organization, members = org
    custom = make_role(organization)
    client = token_client(members["owner"].user, organization)

    slug = client.patch(org_url(organization, f"roles/{custom.id}"), {"slug": "other"}, format="json")
    unknown = client.patch(org_url(organization, f"roles/{custom.id}"), {"colour": "red"}, format="json")
    bad = client.patch(org_url(organization, f"roles/{custom.id}"), {"permissions": ["x:y"]}, format="json")

    assert [slug.status_code, unknown.status_code, bad.status_code] == [400, 400, 400]
    assert "slug" in slug.json()["error"]["details"] and "colour" in unknown.json()["error"]["details"]
    assert Role.objects.get(id=custom.id).slug == "support"


def test_patch_role_checks_added_and_removed_permissions_are_held(org):
    organization, members = org
    custom = make_role(organization, permissions=("members:read", "org:delete"))
    client = token_client(members["admin"].user, organization)

    add = client.patch(org_url(organization, f"roles/{custom.id}"), {"permissions": ["members:read", "org:delete", "org:transfer"]}, format="json")
    remove = client.put(org_url(organization, f"roles/{custom.id}/permissions"), {"permissions": ["members:read"]}, format="json")
    rename = client.patch(org_url(organization, f"roles/{custom.id}"), {"name": "Renamed"}, format="json")

    assert add.status_code == 403 and remove.status_code == 403
    assert rename.status_code == 200
    assert sorted(Role.objects.get(id=custom.id).permissions) == ["members:read", "org:delete"]


def test_role_permissions_get_and_put(org):
    organization, members = org
    custom = make_role(organization, permissions=("members:read",))
    client = token_client(members["admin"].user, organization)
    before = revision(organization)

    got = client.get(org_url(organization, f"roles/{custom.id}/permissions"))
    put = client.put(org_url(organization, f"roles/{custom.id}/permissions"), {"permissions": ["teams:read", "teams:manage"]}, format="json")
    again = client.put(org_url(organization, f"roles/{custom.id}/permissions"), {"permissions": ["teams:manage", "teams:read"]}, format="json")

    assert got.json() == {"data": ["members:read"]}
    assert put.status_code == 200 and put.json() == {"data": ["teams:manage", "teams:read"]}
    assert again.status_code == 200
    assert revision(organization) == before + 1  # the no-op PUT changed nothing
    event = AuditEvent.objects.get(action="role.permissions_changed")
    assert event.changes == {"permissions": [["members:read"], ["teams:manage", "teams:read"]]}
    assert event.metadata == {"added": ["teams:manage", "teams:read"], "removed": ["members:read"]}
    bad = client.put(org_url(organization, f"roles/{custom.id}/permissions"), {"permissions": ["teams:read", "bogus:x"]}, format="json")
    assert bad.status_code == 400 and "bogus:x" in bad.json()["error"]["details"]["permissions"][0]


def test_role_permission_change_reaches_its_members_at_once(org):
    organization, members = org
    custom = make_role(organization, permissions=("members:read",))
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=custom)
    owner = token_client(members["owner"].user, organization)
    viewer = token_client(members["viewer"].user, organization)
    assert "members:invite" not in viewer.get(org_url(organization, "me/permissions")).json()["data"]

    owner.put(org_url(organization, f"roles/{custom.id}/permissions"), {"permissions": ["members:invite"]}, format="json")

    assert "members:invite" in viewer.get(org_url(organization, "me/permissions")).json()["data"]


def test_delete_custom_role(org):
    organization, members = org
    custom = make_role(organization)
    before = revision(organization)

    response = token_client(members["admin"].user, organization).delete(org_url(organization, f"roles/{custom.id}"))

    assert response.status_code == 204
    assert not Role.objects.filter(id=custom.id).exists()
    assert revision(organization) > before
    event = AuditEvent.objects.get(action="role.deleted")
    assert event.target_id == str(custom.id) and event.changes["slug"] == ["support", None]


@pytest.mark.parametrize("usage", ["members", "assignments", "invites", "policies"])
def test_role_in_use_cannot_be_deleted(org, usage):
    organization, members = org
    custom = make_role(organization)
    if usage == "members":
        MembershipFactory(organization=organization, role="support", status="suspended")
    elif usage == "assignments":
        RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=custom)
    elif usage == "invites":
        from datetime import timedelta

        from core import clock
        from organizations.models import Invite

        Invite.objects.create(organization=organization, email="x@example.com", role="support", code_hash="h" * 64, expires_at=clock.now() + timedelta(days=1))
    else:
        Policy.objects.create(organization=organization, name="p", effect="deny", permissions=["org:read"], subjects={"roles": ["support"]})

    response = token_client(members["owner"].user, organization).delete(org_url(organization, f"roles/{custom.id}"))

    assert response.status_code == 409 and code_of(response) == "CONFLICT"
    assert response.json()["error"]["details"]["in_use"] == [usage]
    assert Role.objects.filter(id=custom.id).exists()


def test_member_base_role_by_custom_slug_then_role_delete_conflicts(org):
    organization, members = org
    custom = make_role(organization, permissions=("members:read",))
    owner = token_client(members["owner"].user, organization)

    promoted = owner.patch(org_url(organization, f"members/{members['viewer'].user_id}"), {"role": "support"}, format="json")
    deleted = owner.delete(org_url(organization, f"roles/{custom.id}"))

    assert promoted.status_code == 200 and promoted.json()["role"] == "support"
    assert deleted.status_code == 409


def test_unknown_role_is_404(org):
    organization, members = org
    client = token_client(members["owner"].user, organization)
    missing = uuid.uuid4()

    assert client.get(org_url(organization, f"roles/{missing}")).status_code == 404
    assert client.patch(org_url(organization, f"roles/{missing}"), {"name": "x"}, format="json").status_code == 404
    assert client.put(org_url(organization, f"roles/{missing}/permissions"), {"permissions": []}, format="json").status_code == 404
    assert code_of(client.delete(org_url(organization, f"roles/{missing}"))) == "NOT_FOUND"


# --- role assignments -------------------------------------------------------------------------


def test_assign_role_and_list(org):
    organization, members = org
    custom = make_role(organization, permissions=("members:invite",))
    client = token_client(members["admin"].user, organization)
    viewer_id = str(members["viewer"].user_id)
    before = revision(organization)

    response = client.post(org_url(organization, "role-assignments"), {"user_id": viewer_id, "role_id": str(custom.id)}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user_id"] == viewer_id and body["role"]["slug"] == "support" and body["assigned_by"] == str(members["admin"].user_id)
    assert revision(organization) > before
    event = AuditEvent.objects.get(action="role.assigned")
    assert event.target_type == "user" and event.target_id == viewer_id and event.changes == {"roles": [None, "support"]}
    listed = client.get(org_url(organization, "role-assignments")).json()
    assert listed["total"] == 1 and listed["data"][0]["id"] == body["id"]
    me = token_client(members["viewer"].user, organization).get(org_url(organization, "me/permissions")).json()
    assert "members:invite" in me["data"] and me["roles"] == ["support", "viewer"]


def test_assign_builtin_role_on_top(org):
    organization, members = org
    client = token_client(members["owner"].user, organization)
    ids = builtin_ids(client, organization)

    response = client.post(org_url(organization, "role-assignments"), {"user_id": str(members["viewer"].user_id), "role_id": ids["admin"]}, format="json")

    assert response.status_code == 201
    me = token_client(members["viewer"].user, organization).get(org_url(organization, "me/permissions")).json()
    assert set(me["data"]) == engine.builtin_permissions("admin")


def test_assignment_list_filters_by_user_and_rejects_bad_ids(org):
    organization, members = org
    custom = make_role(organization)
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=custom)
    RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=custom)
    client = token_client(members["viewer"].user, organization)

    filtered = client.get(org_url(organization, f"role-assignments?user_id={members['member'].user_id}")).json()
    bad = client.get(org_url(organization, "role-assignments?user_id=nope"))

    assert filtered["total"] == 1 and filtered["data"][0]["user_id"] == str(members["member"].user_id)
    assert bad.status_code == 400 and "user_id" in bad.json()["error"]["details"]


def test_assign_owner_role_is_forbidden(org):
    organization, members = org
    client = token_client(members["owner"].user, organization)
    ids = builtin_ids(client, organization)

    response = client.post(org_url(organization, "role-assignments"), {"user_id": str(members["admin"].user_id), "role_id": ids["owner"]}, format="json")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert not RoleAssignment.objects.exists()


def test_assign_duplicate_or_base_role_is_conflict(org):
    organization, members = org
    custom = make_role(organization)
    client = token_client(members["owner"].user, organization)
    ids = builtin_ids(client, organization)
    body = {"user_id": str(members["viewer"].user_id), "role_id": str(custom.id)}

    first = client.post(org_url(organization, "role-assignments"), body, format="json")
    second = client.post(org_url(organization, "role-assignments"), body, format="json")
    base = client.post(org_url(organization, "role-assignments"), {**body, "role_id": ids["viewer"]}, format="json")

    assert first.status_code == 201
    assert second.status_code == 409 and base.status_code == 409 and code_of(second) == "CONFLICT"
    assert RoleAssignment.objects.count() == 1


def test_assign_needs_an_active_member_and_a_role_of_this_org(org, org_factory):
    organization, members = org
    other, other_members = org_factory(roles=("owner",))
    foreign_role = make_role(other, slug="foreign")
    custom = make_role(organization)
    suspended = MembershipFactory(organization=organization, role="viewer", status="suspended")
    client = token_client(members["owner"].user, organization)

    outsider = client.post(
        org_url(organization, "role-assignments"), {"user_id": str(other_members["owner"].user_id), "role_id": str(custom.id)}, format="json"
    )
    asleep = client.post(org_url(organization, "role-assignments"), {"user_id": str(suspended.user_id), "role_id": str(custom.id)}, format="json")
    foreign = client.post(
        org_url(organization, "role-assignments"), {"user_id": str(members["viewer"].user_id), "role_id": str(foreign_role.id)}, format="json"
    )
    garbage = client.post(org_url(organization, "role-assignments"), {"user_id": "nope", "role_id": str(custom.id), "extra": 1}, format="json")

    assert outsider.status_code == 400 and "user_id" in outsider.json()["error"]["details"]
    assert asleep.status_code == 400 and "user_id" in asleep.json()["error"]["details"]
    assert foreign.status_code == 400 and "role_id" in foreign.json()["error"]["details"]
    assert garbage.status_code == 400 and {"user_id", "extra"} & set(garbage.json()["error"]["details"])
    assert not RoleAssignment.objects.exists()


def test_cannot_assign_a_role_with_permissions_you_do_not_hold(org):
    organization, members = org
    mighty = make_role(organization, slug="mighty", permissions=("org:delete",))
    client = token_client(members["admin"].user, organization)

    response = client.post(org_url(organization, "role-assignments"), {"user_id": str(members["viewer"].user_id), "role_id": str(mighty.id)}, format="json")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert not RoleAssignment.objects.exists()


def test_unassign_by_id_and_by_body(org):
    organization, members = org
    custom = make_role(organization, permissions=("members:invite",))
    first = RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=custom)
    RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=custom)
    client = token_client(members["admin"].user, organization)
    viewer = token_client(members["viewer"].user, organization)
    assert "members:invite" in viewer.get(org_url(organization, "me/permissions")).json()["data"]
    before = revision(organization)

    by_id = client.delete(org_url(organization, f"role-assignments/{first.id}"))
    by_body = client.delete(org_url(organization, "role-assignments"), {"user_id": str(members["member"].user_id), "role_id": str(custom.id)}, format="json")
    again = client.delete(org_url(organization, f"role-assignments/{first.id}"))
    missing = client.delete(org_url(organization, "role-assignments"), {"user_id": str(members["member"].user_id), "role_id": str(custom.id)}, format="json")

    assert (by_id.status_code, by_body.status_code, again.status_code, missing.status_code) == (204, 204, 404, 404)
    assert not RoleAssignment.objects.exists()
    assert revision(organization) >= before + 2
    events = AuditEvent.objects.filter(action="role.unassigned")
    assert events.count() == 2 and {e.changes["roles"][0] for e in events} == {"support"}
    assert "members:invite" not in viewer.get(org_url(organization, "me/permissions")).json()["data"]


def test_cannot_unassign_a_role_with_permissions_you_do_not_hold(org):
    organization, members = org
    mighty = make_role(organization, slug="mighty", permissions=("org:delete",))
    assignment = RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=mighty)

    response = token_client(members["admin"].user, organization).delete(org_url(organization, f"role-assignments/{assignment.id}"))

    assert response.status_code == 403
    assert RoleAssignment.objects.filter(id=assignment.id).exists()


def test_assignment_list_query_count_is_constant(org, django_assert_max_num_queries):
    organization, members = org
    roles = [make_role(organization, slug=f"r{i}") for i in range(20)]
    client = token_client(members["admin"].user, organization)
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=roles[0])
    client.get(org_url(organization, "role-assignments"))
    with CaptureQueriesContext(connection) as one:
        client.get(org_url(organization, "role-assignments"))
    one = len(one)
    for role in roles[1:]:
        for membership in (members["viewer"], members["member"]):
            RoleAssignment.objects.create(organization=organization, user=membership.user, role=role)
    with django_assert_max_num_queries(one):
        response = client.get(org_url(organization, "role-assignments?limit=100"))

    assert response.json()["total"] == 39


# --- isolation --------------------------------------------------------------------------------


def test_another_orgs_roles_and_assignments_are_invisible_and_untouched(org, org_factory):
    organization, members = org
    other, other_members = org_factory(roles=("owner", "member"))
    other_role = make_role(other, slug="theirs", permissions=("members:read",))
    other_assignment = RoleAssignment.objects.create(organization=other, user=other_members["member"].user, role=other_role)
    other_revision = revision(other)
    client = token_client(members["owner"].user, organization)  # owner of A: everything, but only in A

    in_b = [
        client.get(org_url(other, "roles")),
        client.post(org_url(other, "roles"), {"name": "X", "permissions": []}, format="json"),
        client.get(org_url(other, f"roles/{other_role.id}")),
        client.get(org_url(other, "role-assignments")),
        client.post(org_url(other, "role-assignments"), {"user_id": str(other_members["member"].user_id), "role_id": str(other_role.id)}, format="json"),
        client.delete(org_url(other, f"role-assignments/{other_assignment.id}")),
        client.get(org_url(other, f"members/{other_members['member'].user_id}/permissions")),
        client.get(org_url(other, "me/permissions")),
        client.get(org_url(other, "permissions")),
        client.post(org_url(other, "permissions/check-many"), {"permissions": ["org:read"]}, format="json"),
        client.post(org_url(other, "permissions/check"), {"permission": "org:read", "user_id": str(other_members["member"].user_id)}, format="json"),
    ]
    via_a = [
        client.get(org_url(organization, f"members/{other_members['member'].user_id}/permissions")),
        client.post(org_url(organization, "permissions/check"), {"permission": "org:read", "user_id": str(other_members["member"].user_id)}, format="json"),
        client.get(org_url(organization, f"roles/{other_role.id}")),
        client.patch(org_url(organization, f"roles/{other_role.id}"), {"name": "Mine"}, format="json"),
        client.delete(org_url(organization, f"roles/{other_role.id}")),
        client.get(org_url(organization, f"roles/{other_role.id}/permissions")),
        client.put(org_url(organization, f"roles/{other_role.id}/permissions"), {"permissions": []}, format="json"),
        client.delete(org_url(organization, f"role-assignments/{other_assignment.id}")),
        client.delete(
            org_url(organization, "role-assignments"), {"user_id": str(other_members["member"].user_id), "role_id": str(other_role.id)}, format="json"
        ),
    ]

    assert [r.status_code for r in in_b] == [404] * len(in_b)
    assert {code_of(r) for r in in_b} == {"ORG_NOT_FOUND"}
    assert [r.status_code for r in via_a] == [404] * len(via_a)
    assert "theirs" not in [r["slug"] for r in client.get(org_url(organization, "roles")).json()["data"]]
    other_role.refresh_from_db()
    assert other_role.name == "Theirs" and other_role.permissions == ["members:read"]
    assert RoleAssignment.objects.filter(id=other_assignment.id).exists()
    assert Role.objects.filter(organization=other).count() == 1  # not even built-in rows were made for B
    assert revision(other) == other_revision
