"""Review of the issue-13 fix, written as attacks: each test fails while the hole is open."""

import pytest
from rest_framework.test import APIClient

from core import authz
from core.actor import Actor
from organizations.tests.factories import MembershipFactory
from permissions import apikeys
from permissions.tests.helpers import org_url, token_client

pytestmark = pytest.mark.django_db


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


@pytest.fixture
def org(org_factory, unlimited_plan):
    return org_factory(roles=("owner", "admin", "member"))


def test_a_peer_who_rotated_a_key_keeps_a_working_credential_after_being_removed(org):
    """Rotating a peer's key is allowed (not a better), and hands the rotator a secret that acts as the
    *creator*. The key is bound to its creator's membership, not to whoever now holds its secret: the
    rotating admin, removed from the org by the owner, still gets in with it (audited as the other
    admin). Invariant (c)/finding 6 only bind the creator."""
    organization, members = org
    other_admin = MembershipFactory(organization=organization, role="admin")
    key, _ = apikeys.api_key_create(
        organization=organization, name="ci", grantable=authz.codes(), scopes=["members:read"], created_by=other_admin.user, actor=Actor.system()
    )
    mallory = token_client(members["admin"].user, organization)

    rotated = mallory.post(org_url(organization, f"api-keys/{key.id}/rotate"))
    assert rotated.status_code == 200, rotated.content
    stolen = rotated.json()["secret"]

    # the owner removes Mallory from the org
    owner = token_client(members["owner"].user, organization)
    assert owner.delete(org_url(organization, f"members/{members['admin'].user_id}")).status_code == 204

    # then: nothing Mallory took away from the org while she was in it keeps her in
    response = key_client(stolen).get(org_url(organization, "members"))
    assert response.status_code == 401, "a removed admin still reads the org with the secret she rotated out of a peer's key"
