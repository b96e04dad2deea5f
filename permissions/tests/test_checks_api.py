"""Effective permissions, check and check-many: the same answers the views enforce, cached per revision."""

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import authz
from organizations import permissions as org_perms
from organizations.models import Organization
from organizations.tests.factories import MembershipFactory
from permissions import engine
from permissions.models import Policy, Role, RoleAssignment
from permissions.permissions import ROLES_MANAGE
from permissions.tests.helpers import code_of, org_url, temp_catalog, token_client  # noqa: F401  (temp_catalog: fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(org_factory):
    return org_factory(roles=("owner", "admin", "member", "viewer"))


def revision(organization) -> int:
    return Organization.objects.get(id=organization.id).authz_revision


def check_many(client, organization, permissions, **extra):
    return client.post(org_url(organization, "permissions/check-many"), {"permissions": list(permissions), **extra}, format="json")


# --- catalog ----------------------------------------------------------------------------------


def test_catalog_lists_every_declared_permission(org):
    organization, members = org

    response = token_client(members["viewer"].user, organization).get(org_url(organization, "permissions"))

    assert response.status_code == 200
    data = response.json()["data"]
    assert [p["code"] for p in data] == sorted(authz.codes())
    roles_manage = next(p for p in data if p["code"] == ROLES_MANAGE)
    assert roles_manage == {"code": "roles:manage", "resource": "roles", "action": "manage", "description": authz._catalog["roles:manage"].description}


# --- effective permissions --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_me_permissions_per_builtin_role(org, role):
    organization, members = org

    response = token_client(members[role].user, organization).get(org_url(organization, "me/permissions"))

    assert response.status_code == 200
    assert response.json() == {"data": sorted(engine.builtin_permissions(role)), "roles": [role], "revision": revision(organization)}


def test_me_permissions_use_this_requests_facts(org):
    organization, members = org
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})
    Policy.objects.create(organization=organization, name="+invite", effect="allow", permissions=["members:invite"], subjects={"roles": ["viewer"]})
    Organization.objects.filter(id=organization.id).update(authz_revision=5)

    plain = token_client(members["owner"].user, organization).get(org_url(organization, "me/permissions")).json()
    verified = token_client(members["owner"].user, organization, mfa=True).get(org_url(organization, "me/permissions")).json()
    viewer = token_client(members["viewer"].user, organization).get(org_url(organization, "me/permissions")).json()

    assert "org:update" not in plain["data"] and "org:update" in verified["data"]
    assert plain["revision"] == 5
    assert set(viewer["data"]) == engine.builtin_permissions("viewer") | {"members:invite"}


def test_member_permissions_of_another_member(org):
    organization, members = org
    custom = Role.objects.create(organization=organization, slug="inviter", name="Inviter", permissions=["members:invite"])
    RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=custom)
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})
    owner = token_client(members["owner"].user, organization, mfa=True)

    member = owner.get(org_url(organization, f"members/{members['member'].user_id}/permissions")).json()
    admin = owner.get(org_url(organization, f"members/{members['admin'].user_id}/permissions")).json()
    myself = owner.get(org_url(organization, f"members/{members['owner'].user_id}/permissions")).json()

    assert set(member["data"]) == engine.builtin_permissions("member") | {"members:invite"}
    assert member["roles"] == ["inviter", "member"] and member["revision"] == revision(organization)
    # Another member's MFA is unknown: treated as not met. Mine is this session's.
    assert "org:update" not in admin["data"]
    assert "org:update" in myself["data"]


def test_member_permissions_needs_members_read_and_a_member(org, org_factory):
    organization, members = org
    other, other_members = org_factory(roles=("owner",))
    Role.objects.create(organization=organization, slug="blind", name="Blind", permissions=["org:read"])
    blind = MembershipFactory(organization=organization, role="blind")
    suspended = MembershipFactory(organization=organization, role="admin", status="suspended")
    viewer = token_client(members["viewer"].user, organization)

    assert viewer.get(org_url(organization, f"members/{members['admin'].user_id}/permissions")).status_code == 200
    denied = token_client(blind.user, organization).get(org_url(organization, f"members/{members['admin'].user_id}/permissions"))
    assert denied.status_code == 403 and code_of(denied) == "INSUFFICIENT_PERMISSIONS"
    assert viewer.get(org_url(organization, f"members/{uuid.uuid4()}/permissions")).status_code == 404
    assert viewer.get(org_url(organization, f"members/{other_members['owner'].user_id}/permissions")).status_code == 404
    assert viewer.get(org_url(organization, f"members/{suspended.user_id}/permissions")).json() == {
        "data": [],
        "roles": ["admin"],
        "revision": revision(organization),
    }


# --- check ------------------------------------------------------------------------------------


def test_check_answers_allowed_and_reason(org):
    organization, members = org
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})
    admin = token_client(members["admin"].user, organization)

    granted = admin.post(org_url(organization, "permissions/check"), {"permission": "members:read"}, format="json")
    mfa = admin.post(org_url(organization, "permissions/check"), {"permission": "org:update"}, format="json")
    missing = admin.post(org_url(organization, "permissions/check"), {"permission": "org:delete"}, format="json")
    unknown = admin.post(org_url(organization, "permissions/check"), {"permission": "warp:drive"}, format="json")
    sentinel = admin.post(org_url(organization, "permissions/check"), {"permission": engine.MEMBERSHIP}, format="json")

    assert granted.status_code == 200 and granted.json() == {"allowed": True, "reason": "granted by role"}
    assert mfa.json() == {"allowed": False, "reason": "denied by policy 'mfa' (mfa_required)"}
    assert missing.json()["allowed"] is False and "org:delete" in missing.json()["reason"]
    assert unknown.status_code == 200 and unknown.json() == {"allowed": False, "reason": "unknown permission warp:drive"}
    assert sentinel.json()["allowed"] is False


def test_check_bad_input(org):
    organization, members = org
    client = token_client(members["member"].user, organization)

    assert client.post(org_url(organization, "permissions/check"), {}, format="json").status_code == 400
    assert client.post(org_url(organization, "permissions/check"), {"permission": "org:read", "extra": 1}, format="json").status_code == 400
    assert client.post(org_url(organization, "permissions/check"), {"permission": "org:read", "user_id": "x"}, format="json").status_code == 400


def test_check_another_user_needs_members_read_and_treats_mfa_as_unmet(org):
    organization, members = org
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})
    Role.objects.create(organization=organization, slug="blind", name="Blind", permissions=["org:read"])
    blind = MembershipFactory(organization=organization, role="blind")
    owner = token_client(members["owner"].user, organization, mfa=True)
    admin_id = str(members["admin"].user_id)

    about_admin = owner.post(org_url(organization, "permissions/check"), {"permission": "org:update", "user_id": admin_id}, format="json")
    about_me = owner.post(org_url(organization, "permissions/check"), {"permission": "org:update", "user_id": str(members["owner"].user_id)}, format="json")
    nosy = token_client(blind.user, organization).post(
        org_url(organization, "permissions/check"), {"permission": "org:read", "user_id": admin_id}, format="json"
    )
    stranger = owner.post(org_url(organization, "permissions/check"), {"permission": "org:read", "user_id": str(uuid.uuid4())}, format="json")

    assert about_admin.json() == {"allowed": False, "reason": "denied by policy 'mfa' (mfa_required)"}
    assert about_me.json()["allowed"] is True
    assert nosy.status_code == 403
    assert stranger.status_code == 404


# --- check-many -------------------------------------------------------------------------------


def test_check_many_results_and_revision(org):
    organization, members = org
    client = token_client(members["member"].user, organization)

    response = check_many(client, organization, ["org:read", "org:update", "teams:read", "bogus:perm", "org:read"])

    assert response.status_code == 200
    assert response.json() == {
        "results": {"org:read": True, "org:update": False, "teams:read": True, "bogus:perm": False},
        "revision": revision(organization),
    }


def test_check_many_limits(org):
    organization, members = org
    client = token_client(members["member"].user, organization)

    too_many = check_many(client, organization, [f"x{i}:y" for i in range(101)])
    hundred = check_many(client, organization, [f"x{i}:y" for i in range(100)])
    empty = check_many(client, organization, [])
    bad_revision = check_many(client, organization, ["org:read"], at_least_revision=0)

    assert too_many.status_code == 400 and "permissions" in too_many.json()["error"]["details"]
    assert hundred.status_code == 200 and not any(hundred.json()["results"].values())
    assert empty.status_code == 400 and bad_revision.status_code == 400


def test_check_many_for_another_user(org):
    organization, members = org
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["members:invite"], conditions={"mfa_required": True})
    admin = token_client(members["admin"].user, organization, mfa=True)

    about_viewer = check_many(admin, organization, ["org:read", "members:update"], user_id=str(members["viewer"].user_id)).json()
    about_owner = check_many(admin, organization, ["members:invite", "org:delete"], user_id=str(members["owner"].user_id)).json()
    mine = check_many(admin, organization, ["members:invite"]).json()

    assert about_viewer["results"] == {"org:read": True, "members:update": False}
    assert about_owner["results"] == {"members:invite": False, "org:delete": True}
    assert mine["results"] == {"members:invite": True}


def test_api_check_answers_exactly_what_the_views_enforce(org):
    organization, members = org
    Role.objects.create(organization=organization, slug="support", name="Support", permissions=["members:read", "members:update", "org:read"])
    support = MembershipFactory(organization=organization, role="support")
    Policy.objects.create(organization=organization, name="hide members", effect="deny", permissions=["members:read"], subjects={"roles": ["member"]})
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update", "members:update"], conditions={"mfa_required": True})
    Policy.objects.create(organization=organization, name="viewers see policies", effect="allow", permissions=[ROLES_MANAGE], subjects={"roles": ["viewer"]})
    nobody = str(uuid.uuid4())
    # Each view, called so that it answers 403 only when authorization refuses (else 200/400/404).
    views = {
        org_perms.ORG_READ: lambda c: c.get(org_url(organization)),
        org_perms.ORG_UPDATE: lambda c: c.patch(org_url(organization), {"website": ""}, format="json"),
        org_perms.ORG_DELETE: lambda c: c.delete(org_url(organization), {"confirm": "not-the-slug"}, format="json"),
        org_perms.ORG_TRANSFER: lambda c: c.post(org_url(organization, "transfer-ownership"), {}, format="json"),
        org_perms.MEMBERS_READ: lambda c: c.get(org_url(organization, "members")),
        org_perms.MEMBERS_UPDATE: lambda c: c.patch(org_url(organization, f"members/{nobody}"), {"status": "active"}, format="json"),
        org_perms.MEMBERS_REMOVE: lambda c: c.delete(org_url(organization, f"members/{nobody}")),
        ROLES_MANAGE: lambda c: c.get(org_url(organization, "policies")),
    }
    clients = {
        "owner": token_client(members["owner"].user, organization),
        "owner+mfa": token_client(members["owner"].user, organization, mfa=True),
        "admin": token_client(members["admin"].user, organization),
        "admin+mfa": token_client(members["admin"].user, organization, mfa=True),
        "member": token_client(members["member"].user, organization),
        "viewer": token_client(members["viewer"].user, organization),
        "support": token_client(support.user, organization),
        "support+mfa": token_client(support.user, organization, mfa=True),
    }
    seen = set()

    for name, client in clients.items():
        answers = check_many(client, organization, views).json()["results"]
        for permission, call in views.items():
            single = client.post(org_url(organization, "permissions/check"), {"permission": permission}, format="json").json()
            response = call(client)
            enforced = response.status_code != 403
            assert response.status_code in (200, 204, 400, 404, 403), (name, permission, response.content)
            assert answers[permission] is enforced is single["allowed"], (name, permission, response.content, single)
            seen.add(enforced)

    assert seen == {True, False}


def test_check_is_refused_to_suspended_members(org):
    organization, members = org
    suspended = MembershipFactory(organization=organization, role="admin", status="suspended")

    response = check_many(token_client(suspended.user, organization), organization, ["org:read"])

    assert response.status_code == 403 and code_of(response) == "INVALID_ORG_CONTEXT"


# --- revision, cache ----------------------------------------------------------------------------


def test_no_stale_grant_after_role_downgrade_or_unassignment_or_policy(org):
    organization, members = org
    owner = token_client(members["owner"].user, organization)
    admin = token_client(members["admin"].user, organization)
    first = check_many(admin, organization, ["members:update"]).json()
    assert first["results"] == {"members:update": True}

    owner.patch(org_url(organization, f"members/{members['admin'].user_id}"), {"role": "viewer"}, format="json")
    second = check_many(admin, organization, ["members:update"]).json()

    assert second["results"] == {"members:update": False} and second["revision"] > first["revision"]
    assert admin.patch(org_url(organization, f"members/{members['member'].user_id}"), {"status": "active"}, format="json").status_code == 403

    roles = {r["slug"]: r["id"] for r in owner.get(org_url(organization, "roles")).json()["data"]}
    assigned = owner.post(
        org_url(organization, "role-assignments"), {"user_id": str(members["admin"].user_id), "role_id": roles["admin"]}, format="json"
    ).json()
    third = check_many(admin, organization, ["members:update"]).json()
    owner.delete(org_url(organization, f"role-assignments/{assigned['id']}"))
    fourth = check_many(admin, organization, ["members:update"]).json()

    assert third["results"] == {"members:update": True} and fourth["results"] == {"members:update": False}
    assert fourth["revision"] > third["revision"] > second["revision"]

    viewer_reads = check_many(admin, organization, ["members:read"]).json()
    owner.post(
        org_url(organization, "policies"),
        {"name": "no", "effect": "deny", "permissions": ["members:read"], "subjects": {"users": [str(members["admin"].user_id)]}},
        format="json",
    )
    fifth = check_many(admin, organization, ["members:read"]).json()

    assert viewer_reads["results"] == {"members:read": True} and fifth["results"] == {"members:read": False}
    assert fifth["revision"] > fourth["revision"]


def _authz_queries(captured) -> list[str]:
    return [q["sql"] for q in captured if "permissions_role" in q["sql"] or "permissions_policy" in q["sql"]]


def test_at_least_revision_newer_than_the_cache_is_answered_fresh(org):
    organization, members = org
    client = token_client(members["admin"].user, organization)
    current = check_many(client, organization, ["org:read"]).json()["revision"]  # warms the cache

    with CaptureQueriesContext(connection) as warm:
        same = check_many(client, organization, ["org:read"], at_least_revision=current)
    warm_authz = _authz_queries(warm.captured_queries)
    with CaptureQueriesContext(connection) as forced:
        newer = check_many(client, organization, ["org:read"], at_least_revision=current + 10)
    forced_authz = _authz_queries(forced.captured_queries)

    assert same.json() == {"results": {"org:read": True}, "revision": current} and warm_authz == []
    assert newer.status_code == 200 and newer.json() == {"results": {"org:read": True}, "revision": current}
    assert len(forced_authz) == 2  # roles and policies read again, bypassing the cache


def test_check_many_of_fifty_permissions_query_counts(org, temp_catalog, django_assert_max_num_queries):
    temp_catalog(*[f"bench{i:02d}:use" for i in range(40)])
    organization, members = org
    Role.objects.create(organization=organization, slug="bench", name="Bench", permissions=[f"bench{i:02d}:use" for i in range(0, 40, 3)])
    RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=Role.objects.get(slug="bench"))
    Policy.objects.create(organization=organization, name="deny one", effect="deny", permissions=["bench03:use"])
    permissions = sorted(authz.codes())[:50]
    client = token_client(members["member"].user, organization)
    # Signing the token computed its `permissions` claim, which warmed the authz caches: start cold.
    cache.delete_many([engine._subject_key(organization, members["member"].user_id), engine._policies_key(organization)])

    with CaptureQueriesContext(connection) as cold:
        first = check_many(client, organization, permissions)
    with CaptureQueriesContext(connection) as warm:
        second = check_many(client, organization, permissions)

    assert first.json() == second.json()
    assert first.json()["results"]["bench00:use"] is True and first.json()["results"]["bench03:use"] is False
    # Evaluation: 2 queries cold (roles, policies), none warm.
    assert len(_authz_queries(cold.captured_queries)) == 2
    assert _authz_queries(warm.captured_queries) == []
    # Whole request, measured on SQLite: warm = 3 (user and the request transaction's SAVEPOINT/RELEASE
    # pair; membership and org come from the org context that signing in cached); cold = 6 (+ the
    # token's session state, cached afterwards, + roles + policies).
    assert len(warm.captured_queries) == 3
    assert len(cold.captured_queries) == 6
    with django_assert_max_num_queries(3):
        check_many(client, organization, permissions)


def test_check_many_answers_from_the_inputs_its_permission_check_read(org, monkeypatch):
    organization, members = org
    Policy.objects.create(organization=organization, name="no deletes", effect="deny", permissions=["org:delete"], subjects={"roles": ["owner"]})
    client = token_client(members["owner"].user, organization)
    check_many(client, organization, ["org:read"])  # warm: subject and policies cached
    reads = {"member_inputs": 0, "member_subject": 0, "organization_policies": 0}
    for name in reads:
        original = getattr(engine, name)
        monkeypatch.setattr(engine, name, lambda *a, _name=name, _original=original, **k: reads.__setitem__(_name, reads[_name] + 1) or _original(*a, **k))

    warm = check_many(client, organization, ["org:read", "org:delete", "members:invite"]).json()
    assert reads == {"member_inputs": 1, "member_subject": 0, "organization_policies": 0}
    # the answer is what a fresh evaluation gives: the deny policy counted
    fresh = check_many(client, organization, ["org:read", "org:delete", "members:invite"], at_least_revision=revision(organization) + 1).json()
    assert warm["results"] == fresh["results"] == {"org:read": True, "org:delete": False, "members:invite": True}
