"""Organization keys against the permissions API and policies: scopes, their creator's policies, audit actor."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core import authz
from core.actor import Actor
from organizations.models import Membership
from permissions import apikeys
from permissions.models import Policy, Role
from permissions.tests.helpers import code_of, org_url

pytestmark = pytest.mark.django_db


def key_client(organization, scopes) -> APIClient:
    """A client holding a key the org's owner made."""
    owner = Membership.objects.get(organization=organization, role="owner").user
    _, secret = apikeys.api_key_create(
        organization=organization, name="ci", grantable=authz.codes(), scopes=list(scopes), created_by=owner, actor=Actor.system()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def test_key_manages_roles_within_its_scopes_and_is_audited_as_a_key(org_factory):
    organization, _ = org_factory(roles=("owner",))
    client = key_client(organization, ["roles:manage", "members:read", "org:read"])

    created = client.post(org_url(organization, "roles"), {"name": "Readers", "permissions": ["org:read", "members:read"]}, format="json")
    beyond = client.post(org_url(organization, "roles"), {"name": "Writers", "permissions": ["org:update"]}, format="json")

    assert created.status_code == 201, created.content
    assert beyond.status_code == 403 and code_of(beyond) == "INSUFFICIENT_PERMISSIONS"
    event = AuditEvent.objects.get(action="role.created")
    assert event.actor_type == "api_key" and event.target_id == created.json()["id"]
    assert list(Role.objects.filter(organization=organization, is_builtin=False).values_list("slug", flat=True)) == ["readers"]


def test_membership_only_routes_refuse_keys(org_factory):
    organization, _ = org_factory(roles=("owner",))
    client = key_client(organization, sorted(authz.codes()))

    me = client.get(org_url(organization, "me/permissions"))
    check = client.post(org_url(organization, "permissions/check"), {"permission": "org:read"}, format="json")

    assert me.status_code == 403 and check.status_code == 403


def test_keys_meet_their_creators_policies_on_views(org_factory):
    organization, members = org_factory(roles=("owner",))
    client = key_client(organization, ["org:read", "members:read"])
    assert client.get(org_url(organization)).status_code == 200
    # A deny aimed at the creator's role binds the keys they made (API.md: a key never acts beyond its creator).
    Policy.objects.create(
        organization=organization, name="members", effect="deny", permissions=["org:read"], subjects={"roles": ["owner", "admin", "member", "viewer"]}
    )
    Policy.objects.create(organization=organization, name="everyone", effect="deny", permissions=["members:read"])
    type(organization).objects.filter(id=organization.id).update(authz_revision=organization.authz_revision + 1)

    assert client.get(org_url(organization)).status_code == 403
    assert client.get(org_url(organization, "members")).status_code == 403
    reader = client.get(org_url(organization, f"members/{members['owner'].user_id}/permissions"))
    assert reader.status_code == 403  # needs members:read, which the subject-less deny takes from the key too
