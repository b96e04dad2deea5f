"""Platform permissions: staff (with MFA) register codes that every org's catalog, roles, policies and API keys then know."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from conftest import client_for, login_tokens
from core import authz
from core.actor import Actor
from permissions import apikeys, catalog
from permissions.models import PlatformPermission, Policy, Role

pytestmark = pytest.mark.django_db

REGISTRY = "/api/v1/permissions"


@pytest.fixture(autouse=True)
def _fresh_catalog():
    """Rows registered here are rolled back with the test: drop this process's copy of them too."""
    catalog.forget()
    yield
    catalog.forget()


def code_of(response) -> str:
    return response.json()["error"]["code"]


def totp_now(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def staff(db) -> APIClient:
    """A staff member signed in with password + TOTP (their session passed MFA)."""
    user = UserFactory(is_staff=True)
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    challenge = login_tokens(APIClient(), user.email)
    response = APIClient().post("/api/v1/auth/mfa/verify", {"mfa_token": challenge["mfa_token"], "code": totp_now(device)}, format="json")
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    client.user = user
    return client


def register(staff, code="crm:write", description="Write CRM records."):
    return staff.post(REGISTRY, {"code": code, "description": description}, format="json")


def org_url(organization, suffix=""):
    return f"/api/v1/orgs/{organization.id}{suffix}"


# --- the registry ------------------------------------------------------------------------------


def test_staff_register_update_list_and_delete_a_code(staff):
    created = register(staff)
    assert created.status_code == 201, created.content
    assert {k: created.json()[k] for k in ("code", "resource", "action", "description", "is_builtin")} == {
        "code": "crm:write",
        "resource": "crm",
        "action": "write",
        "description": "Write CRM records.",
        "is_builtin": False,
    }

    patched = staff.patch(f"{REGISTRY}/crm:write", {"description": "Create and change CRM records."}, format="json")
    assert patched.status_code == 200 and patched.json()["description"] == "Create and change CRM records."

    listed = {item["code"]: item for item in staff.get(REGISTRY).json()["data"]}
    assert listed["crm:write"]["is_builtin"] is False and listed["org:read"]["is_builtin"] is True
    assert set(listed) == authz.codes() | {"crm:write"}

    assert staff.delete(f"{REGISTRY}/crm:write").status_code == 204
    assert not PlatformPermission.objects.exists()
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="platform_permission.").order_by("sequence")] == [
        "platform_permission.created",
        "platform_permission.updated",
        "platform_permission.deleted",
    ]
    assert AuditEvent.objects.filter(action="platform_permission.created", actor_id=staff.user.id, organization_id=None).exists()


@pytest.mark.parametrize("code", ["CRM:write", "crm", "crm:", ":write", "crm:write:all", "crm write", "1crm:write", "*"])
def test_codes_are_resource_colon_action(staff, code):
    response = register(staff, code=code)

    assert response.status_code == 400 and "code" in response.json()["error"]["details"]


def test_an_existing_code_is_a_conflict(staff):
    assert register(staff).status_code == 201
    assert register(staff).status_code == 409
    assert register(staff, code="org:read").status_code == 409


def test_built_in_codes_are_read_only(staff):
    assert staff.patch(f"{REGISTRY}/org:read", {"description": "mine now"}, format="json").status_code == 403
    assert staff.delete(f"{REGISTRY}/org:delete").status_code == 403
    assert staff.get(f"{REGISTRY}/org:read").json()["is_builtin"] is True
    assert staff.delete(f"{REGISTRY}/nope:nope").status_code == 404


def test_patch_takes_the_description_only(staff):
    register(staff)

    response = staff.patch(f"{REGISTRY}/crm:write", {"code": "crm:admin"}, format="json")

    assert response.status_code == 400 and "code" in response.json()["error"]["details"]


def test_only_staff_with_mfa_reach_the_registry(db, org_factory):
    organization, members = org_factory(roles=("owner",))
    owner = client_for(members["owner"].user, organization)
    staff_without_mfa = client_for(UserFactory(is_staff=True))

    assert APIClient().get(REGISTRY).status_code == 401
    for client in (owner, staff_without_mfa):
        assert client.get(REGISTRY).status_code == 403
        assert register(client).status_code == 403
    assert code_of(owner.get(REGISTRY)) == "INSUFFICIENT_PERMISSIONS"
    assert code_of(register(staff_without_mfa)) == "MFA_REQUIRED"
    assert not PlatformPermission.objects.exists()


def test_an_impersonation_token_cannot_register(staff, db):
    target = UserFactory()
    token = staff.post("/api/v1/staff/impersonate", {"user_id": str(target.id), "reason": "ticket 1"}, format="json").json()["access_token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert register(client).status_code == 403


# --- in every org ------------------------------------------------------------------------------


def test_a_registered_code_joins_every_orgs_catalog_and_owners_and_admins_hold_it(staff, org_factory):
    organization, members = org_factory(roles=("owner", "admin", "member"))
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    before = clients["member"].get(org_url(organization, "/me/permissions")).json()["data"]  # warms the caches
    register(staff)

    catalog_codes = [p["code"] for p in clients["member"].get(org_url(organization, "/permissions")).json()["data"]]
    assert "crm:write" in catalog_codes and "crm:write" not in before
    for role, expected in (("owner", True), ("admin", True), ("member", False)):
        check = clients[role].post(org_url(organization, "/permissions/check"), {"permission": "crm:write"}, format="json").json()
        assert check["allowed"] is expected, role


def test_a_platform_code_can_be_granted_to_roles_policies_and_api_keys(staff, org_factory):
    organization, members = org_factory(roles=("owner", "member"))
    owner = client_for(members["owner"].user, organization)
    register(staff)

    role = owner.post(org_url(organization, "/roles"), {"name": "CRM writer", "permissions": ["crm:write"]}, format="json")
    assert role.status_code == 201, role.content
    assigned = owner.post(org_url(organization, "/role-assignments"), {"user_id": str(members["member"].user_id), "role_id": role.json()["id"]}, format="json")
    assert assigned.status_code == 201
    member = client_for(members["member"].user, organization)
    assert member.post(org_url(organization, "/permissions/check"), {"permission": "crm:write"}, format="json").json()["allowed"] is True

    key = owner.post(org_url(organization, "/api-keys"), {"name": "crm", "scopes": ["crm:write"]}, format="json")
    assert key.status_code == 201, key.content
    assert key.json()["scopes"] == ["crm:write"]
    policy = owner.post(
        org_url(organization, "/policies"),
        {"name": "crm mfa", "effect": "deny", "permissions": ["crm:write"], "conditions": {"mfa_required": True}},
        format="json",
    )
    assert policy.status_code == 201, policy.content
    assert member.post(org_url(organization, "/permissions/check"), {"permission": "crm:write"}, format="json").json()["allowed"] is False


def test_nobody_grants_a_platform_code_they_do_not_hold(staff, org_factory):
    organization, members = org_factory(roles=("owner",))
    Role.objects.create(organization=organization, slug="role-keeper", name="Role keeper", permissions=["roles:manage", "members:read"])
    from organizations.models import Membership

    keeper = Membership.objects.create(organization=organization, user=UserFactory(), role="role-keeper")
    client = client_for(keeper.user, organization)
    register(staff)

    role = client.post(org_url(organization, "/roles"), {"name": "CRM writer", "permissions": ["crm:write"]}, format="json")
    policy = client.post(org_url(organization, "/policies"), {"name": "crm", "effect": "allow", "permissions": ["crm:write"]}, format="json")

    assert role.status_code == 403 and code_of(role) == "INSUFFICIENT_PERMISSIONS"
    assert policy.status_code == 403
    assert not Role.objects.filter(slug="crm-writer").exists() and not Policy.objects.exists()


def test_an_unregistered_code_is_still_unknown(org_factory):
    organization, members = org_factory(roles=("owner",))
    owner = client_for(members["owner"].user, organization)

    response = owner.post(org_url(organization, "/roles"), {"name": "CRM writer", "permissions": ["crm:write"]}, format="json")

    assert response.status_code == 400


# --- deleting a code in use ------------------------------------------------------------------------


@pytest.mark.parametrize("holder", ["role", "policy", "api_key"])
def test_a_code_in_use_cannot_be_deleted(staff, org_factory, holder):
    organization, members = org_factory(roles=("owner",))
    register(staff)
    if holder == "role":
        Role.objects.create(organization=organization, slug="crm", name="CRM", permissions=["audit:read", "crm:write"])
    elif holder == "policy":
        Policy.objects.create(organization=organization, name="crm", effect="allow", permissions=["crm:write"])
    else:
        apikeys.api_key_create(
            organization=organization, name="k", grantable=catalog.codes(), scopes=["crm:write"], created_by=members["owner"].user, actor=Actor.system()
        )

    response = staff.delete(f"{REGISTRY}/crm:write")

    assert response.status_code == 409 and code_of(response) == "CONFLICT"
    assert response.json()["error"]["details"]["in_use"] == [{"role": "roles", "policy": "policies", "api_key": "api_keys"}[holder]]
    assert PlatformPermission.objects.filter(code="crm:write").exists()


def test_a_similar_code_does_not_count_as_use(staff, org_factory):
    organization, _ = org_factory(roles=("owner",))
    register(staff)
    register(staff, code="crm:write_all")
    Role.objects.create(organization=organization, slug="crm", name="CRM", permissions=["crm:write_all"])

    assert staff.delete(f"{REGISTRY}/crm:write").status_code == 204


def test_the_registry_lists_in_constant_queries(staff, django_assert_max_num_queries):
    # given a few registered codes, listed once (warm)
    for n in range(2):
        assert register(staff, code=f"few:write{n}").status_code == 201
    staff.get(REGISTRY)
    with CaptureQueriesContext(connection) as few:
        assert staff.get(REGISTRY).status_code == 200
    budget = len(few.captured_queries)  # now: every request clears the connection's query log
    # when ten more are registered
    for n in range(10):
        assert register(staff, code=f"many:write{n}").status_code == 201
    staff.get(REGISTRY)  # warm again: a registration drops this process's copy of the catalog
    # then the list costs no more queries
    with django_assert_max_num_queries(budget):
        response = staff.get(REGISTRY)
    codes = {item["code"] for item in response.json()["data"]}
    assert {"few:write0", "many:write9"} <= codes
