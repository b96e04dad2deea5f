"""API keys as an attacker would use them (issue 13, findings 2 and 6): each test is the attack, refused.

A key acts for its creator, within its scopes, with what the creator may do *now*; rotating is a
grant (every scope) and, like revoking, acting on the creator (not on a better).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core import authz
from core.actor import Actor
from organizations.models import Membership, Organization
from organizations.services import authz_revision_bump
from permissions import apikeys, engine
from permissions.models import ApiKey, Policy
from permissions.tests.helpers import code_of, org_url, token_client

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")
# Enough to remove a member who holds no more than a member (so only the rule under test refuses).
REMOVER = sorted(engine.builtin_permissions("member") | {"members:remove"})


def keys_url(organization, suffix: str = "") -> str:
    return org_url(organization, f"api-keys{suffix}")


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def issue(organization, membership, scopes=None) -> tuple[ApiKey, str]:
    """A key `membership` made through the service, with any declared scopes (set-up only)."""
    return apikeys.api_key_create(organization=organization, name="k", grantable=authz.codes(), scopes=scopes, created_by=membership.user, actor=Actor.system())


def deny(organization, *, name: str, permissions, **subjects) -> Policy:
    policy = Policy.objects.create(organization=organization, name=name, effect="deny", permissions=list(permissions), subjects=subjects)
    authz_revision_bump(organization=organization)
    return policy


@pytest.fixture
def team(org_factory, unlimited_plan):
    return org_factory(roles=ROLES)


# --- finding 2: rotating (or revoking) a better's key -----------------------------------------


def test_an_admin_cannot_rotate_the_owners_key_and_take_its_secret(team):
    # given the owner's full-scope key
    organization, members = team
    owner_key, owner_secret = issue(organization, members["owner"])
    admin = token_client(members["admin"].user, organization)

    # when an admin (api_keys:manage) rotates it
    response = admin.post(keys_url(organization, f"/{owner_key.id}/rotate"))

    # then: refused (the key holds org:delete... which the admin does not), no secret, nothing changed
    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert "secret" not in response.json()
    owner_key.refresh_from_db()
    assert owner_key.previous_prefix is None and owner_secret.startswith(f"sk_live_{owner_key.prefix}_")
    assert not AuditEvent.objects.filter(action="api_key.rotated").exists()


def test_a_key_scoped_to_api_keys_manage_cannot_rotate_a_full_key_of_its_creator(team):
    # given two keys of the owner: a narrow one (api_keys:manage only) and a full one
    organization, members = team
    _, narrow_secret = issue(organization, members["owner"], scopes=["api_keys:manage"])
    full_key, _ = issue(organization, members["owner"])

    # when the narrow key rotates the full one (to delete the org with its new secret)
    response = key_client(narrow_secret).post(keys_url(organization, f"/{full_key.id}/rotate"))

    # then: refused, the narrow key is bounded by its own scopes
    assert response.status_code == 403 and "secret" not in response.json()
    full_key.refresh_from_db()
    assert full_key.previous_prefix is None
    assert Organization.objects.filter(id=organization.id).exists()


def test_rotating_needs_every_scope_of_the_key_effectively(team):
    # given the admin's own key with members:remove, then a policy denying the admin members:remove
    organization, members = team
    own_key, _ = issue(organization, members["admin"], scopes=["members:read", "members:remove"])
    deny(organization, name="no removals", permissions=["members:remove"], users=[str(members["admin"].user_id)])
    admin = token_client(members["admin"].user, organization)

    # when the admin rotates it (re-issuing a permission they may no longer use)
    response = admin.post(keys_url(organization, f"/{own_key.id}/rotate"))

    # then: refused (no escalation), naming the permission
    assert response.status_code == 403 and "members:remove" in response.json()["error"]["message"]


def test_an_admin_cannot_revoke_or_delete_the_owners_key(team):
    organization, members = team
    owner_key, owner_secret = issue(organization, members["owner"], scopes=["members:read"])
    admin = token_client(members["admin"].user, organization)

    revoked = admin.delete(keys_url(organization, f"/{owner_key.id}"))
    deleted = admin.delete(keys_url(organization, f"/{owner_key.id}/permanent"))

    assert revoked.status_code == 403 and deleted.status_code == 403
    owner_key.refresh_from_db()
    assert owner_key.status == "active"
    assert key_client(owner_secret).get(org_url(organization, "members")).status_code == 200


def test_the_owner_rotates_and_revokes_an_admins_key_and_members_their_own(team):
    organization, members = team
    admin_key, _ = issue(organization, members["admin"], scopes=["members:read"])
    member_key, _ = issue(organization, members["member"], scopes=["documents:read"])
    owner = token_client(members["owner"].user, organization)
    member = token_client(members["member"].user, organization)
    Policy.objects.create(
        organization=organization, name="members manage keys", effect="allow", permissions=["api_keys:manage"], subjects={"roles": ["member"]}
    )
    authz_revision_bump(organization=organization)

    rotated = owner.post(keys_url(organization, f"/{admin_key.id}/rotate"))
    own = member.post(keys_url(organization, f"/{member_key.id}/rotate"))
    revoked = owner.delete(keys_url(organization, f"/{admin_key.id}"))

    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("sk_live_")
    assert own.status_code == 200, own.content
    assert revoked.status_code == 204


def test_a_key_of_a_member_who_left_can_be_rotated_only_within_the_callers_grants(team):
    # A creator who is gone cannot be "a better": only the scopes bound the rotation.
    organization, members = team
    stale_key, _ = issue(organization, members["viewer"], scopes=["org:read"])
    members["viewer"].delete()
    admin = token_client(members["admin"].user, organization)

    assert admin.post(keys_url(organization, f"/{stale_key.id}/rotate")).status_code == 200
    assert admin.delete(keys_url(organization, f"/{stale_key.id}")).status_code == 204


# --- finding 6: keys escaping policies, demotions and departures ------------------------------


def test_an_admin_denied_members_remove_cannot_mint_a_key_with_it(team):
    # given a policy denying the admin members:remove
    organization, members = team
    deny(organization, name="no removals", permissions=["members:remove"], users=[str(members["admin"].user_id)])
    admin = token_client(members["admin"].user, organization)

    # when the admin mints a key with it, or with their default scopes
    explicit = admin.post(keys_url(organization), {"name": "x", "scopes": ["members:remove"]}, format="json")
    default = admin.post(keys_url(organization), {"name": "y"}, format="json")

    # then: the explicit scope is refused (400, as API.md pins), the default leaves it out
    assert explicit.status_code == 400 and "members:remove" in explicit.json()["error"]["details"]["scopes"][0]
    assert default.status_code == 201, default.content
    assert "members:remove" not in default.json()["scopes"] and "members:invite" in default.json()["scopes"]


def test_a_policy_on_the_creator_binds_the_keys_they_made_before(team):
    # given an admin's key with members:remove, made before a policy denied the admin that permission
    organization, members = team
    _, secret = issue(organization, members["admin"], scopes=REMOVER)
    deny(organization, name="no removals", permissions=["members:remove"], roles=["admin"])

    # when the key removes a member
    response = key_client(secret).delete(org_url(organization, f"members/{members['viewer'].user_id}"))

    # then: refused, the member stays
    assert response.status_code == 403
    assert Membership.objects.filter(id=members["viewer"].id).exists()
    assert key_client(secret).get(org_url(organization, "members")).status_code == 200


def test_a_team_policy_on_the_creator_binds_their_keys(team):
    from organizations.models import TeamMembership
    from organizations.tests.factories import TeamFactory

    organization, members = team
    squad = TeamFactory(organization=organization)
    TeamMembership.objects.create(team=squad, user=members["admin"].user)
    _, secret = issue(organization, members["admin"], scopes=["members:read"])
    deny(organization, name="squad reads nothing", permissions=["members:read"], teams=[str(squad.id)])

    assert key_client(secret).get(org_url(organization, "members")).status_code == 403


def test_a_demoted_creators_key_loses_what_they_lost(team):
    # given an admin's key with members:remove; the admin is then demoted to viewer
    organization, members = team
    _, secret = issue(organization, members["admin"], scopes=REMOVER)
    client = key_client(secret)
    assert client.get(org_url(organization, "members")).status_code == 200  # warm every cache
    members["admin"].role = "viewer"
    members["admin"].save(update_fields=["role"])
    authz_revision_bump(organization=organization)

    # when the key removes a member
    removed = client.delete(org_url(organization, f"members/{members['member'].user_id}"))

    # then: refused; what a viewer may do still works
    assert removed.status_code == 403
    assert Membership.objects.filter(id=members["member"].id).exists()
    assert client.get(org_url(organization, "members")).status_code == 200


@pytest.mark.parametrize("departure", ["removed", "suspended", "account deleted"])
def test_a_key_stops_working_when_its_creator_leaves(team, departure):
    organization, members = team
    _, secret = issue(organization, members["admin"], scopes=["members:read"])
    client = key_client(secret)
    assert client.get(org_url(organization, "members")).status_code == 200  # warm every cache

    if departure == "removed":
        members["admin"].delete()
    elif departure == "suspended":
        members["admin"].status = Membership.Status.SUSPENDED
        members["admin"].save(update_fields=["status"])
    else:
        members["admin"].user.delete()
    response = client.get(org_url(organization, "members"))

    # As if revoked: API.md says such a key "stops working".
    assert response.status_code == 401 and code_of(response) == "TOKEN_INVALID"


def test_a_key_made_by_a_key_acts_for_the_same_member_and_dies_with_them(team):
    organization, members = team
    _, parent_secret = issue(organization, members["admin"], scopes=["api_keys:manage", "members:read"])
    child = key_client(parent_secret).post(keys_url(organization), {"name": "child", "scopes": ["members:read"]}, format="json")
    assert child.status_code == 201, child.content
    assert child.json()["created_by"]["id"] == str(members["admin"].user_id)
    child_client = key_client(child.json()["secret"])
    assert child_client.get(org_url(organization, "members")).status_code == 200

    members["admin"].delete()

    assert child_client.get(org_url(organization, "members")).status_code == 401


def test_a_key_without_a_creator_never_works(team):
    # Legacy rows (or keys issued without a creator): refused rather than trusted with bare scopes.
    organization, _ = team
    _, secret = apikeys.api_key_create(organization=organization, name="legacy", grantable=authz.codes(), scopes=["members:read"], actor=Actor.system())

    response = key_client(secret).get(org_url(organization, "members"))

    assert response.status_code == 401 and code_of(response) == "TOKEN_INVALID"


def test_an_allow_policy_never_takes_a_key_beyond_its_scopes(team):
    organization, members = team
    _, secret = issue(organization, members["viewer"], scopes=["org:read"])
    Policy.objects.create(organization=organization, name="everyone reads members", effect="allow", permissions=["members:read"])
    authz_revision_bump(organization=organization)

    assert key_client(secret).get(org_url(organization, "members")).status_code == 403
    assert token_client(members["viewer"].user, organization).get(org_url(organization, "members")).status_code == 200


def test_a_key_creating_a_key_is_bounded_by_its_own_effective_permissions(team):
    organization, members = team
    _, secret = issue(organization, members["admin"], scopes=["api_keys:manage", "members:read", "members:remove"])
    deny(organization, name="no removals", permissions=["members:remove"], roles=["admin"])

    escalated = key_client(secret).post(keys_url(organization), {"name": "x", "scopes": ["members:remove"]}, format="json")
    default = key_client(secret).post(keys_url(organization), {"name": "y"}, format="json")

    assert escalated.status_code == 400
    assert default.status_code == 201 and default.json()["scopes"] == ["api_keys:manage", "members:read"]


# --- the hot path stays cheap ---------------------------------------------------------------


def test_a_warm_key_request_reads_no_membership_or_role_rows(team):
    organization, members = team
    _, secret = issue(organization, members["admin"], scopes=["org:read"])
    client = key_client(secret)
    assert client.get(org_url(organization)).status_code == 200  # warms membership, subject, policies

    with CaptureQueriesContext(connection) as queries:
        response = client.get(org_url(organization))

    assert response.status_code == 200
    statements = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert "organizations_membership" not in " ".join(statements) and "permissions_role" not in " ".join(statements)
    assert len(statements) == 1  # the key itself (with its org and creator)


def test_the_subject_is_worked_out_once_per_request(team, monkeypatch):
    organization, members = team
    api_key, _ = issue(organization, members["admin"], scopes=["org:read"])
    api_key = ApiKey.objects.select_related("organization", "created_by").get(id=api_key.id)
    calls = []
    real = engine.member_subject
    monkeypatch.setattr(engine, "member_subject", lambda **kwargs: calls.append(1) or real(**kwargs))

    first = engine.api_key_subject(api_key=api_key)
    second = engine.api_key_subject(api_key=api_key)

    assert first == second and first.user_id == str(members["admin"].user_id) and len(calls) == 1
