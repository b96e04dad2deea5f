"""Attacks on grants through teams, roles named by policies, and policies aimed at the owner (issue 13, findings 4 and 5).

Each test is written as the attack: it failed on main before the fix.
"""

import pytest

from organizations.models import Membership, TeamMembership
from organizations.tests.factories import MembershipFactory, TeamFactory
from permissions import engine
from permissions.models import Policy, Role, RoleAssignment
from permissions.tests.helpers import code_of, org_url, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(org_factory):
    return org_factory(roles=("owner", "admin", "member", "viewer"))


def effective(organization, membership) -> set[str]:
    """What a member holds right now, read fresh (no cached subject)."""
    membership = Membership.objects.select_related("organization").get(id=membership.id)
    subject = engine.member_subject(organization=membership.organization, membership=membership, fresh=True)
    policies = engine.organization_policies(membership.organization, fresh=True)
    return set(engine.effective_permissions(subject=subject, policies=policies, facts=engine.Facts()))


def policy(organization, *, effect, permissions, subjects=None, conditions=None, name="p") -> Policy:
    """A policy written straight to the database (as the owner could have, or as a legacy row)."""
    return Policy.objects.create(
        organization=organization, name=name, effect=effect, permissions=permissions, subjects=subjects or {}, conditions=conditions or {}
    )


# --- finding 4: escalation by team (and by a role an allow policy names) ---------------------------------


def billing_team(organization):
    team = TeamFactory(organization=organization, name="Finance")
    policy(organization, effect="allow", permissions=["billing:manage"], subjects={"teams": [str(team.id)]}, name="finance pays")
    return team


def test_an_admin_cannot_join_a_team_whose_policy_grants_what_he_lacks(org):
    organization, members = org
    team = billing_team(organization)
    admin = token_client(members["admin"].user, organization)

    response = admin.post(org_url(organization, f"teams/{team.id}/members"), {"user_id": str(members["admin"].user_id)}, format="json")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert "billing:manage" in response.json()["error"]["message"]
    assert not TeamMembership.objects.filter(team=team).exists()
    assert "billing:manage" not in effective(organization, members["admin"])


def test_the_owner_can_put_someone_on_that_team(org):
    organization, members = org
    team = billing_team(organization)
    owner = token_client(members["owner"].user, organization)

    response = owner.post(org_url(organization, f"teams/{team.id}/members"), {"user_id": str(members["admin"].user_id)}, format="json")

    assert response.status_code == 201, response.content
    assert "billing:manage" in effective(organization, members["admin"])


def test_a_team_without_policies_is_joined_as_before(org):
    organization, members = org
    team = TeamFactory(organization=organization)
    admin = token_client(members["admin"].user, organization)

    response = admin.post(org_url(organization, f"teams/{team.id}/members"), {"user_id": str(members["viewer"].user_id)}, format="json")

    assert response.status_code == 201, response.content


def test_an_invite_cannot_carry_a_team_whose_policy_grants_what_the_inviter_lacks(org, unlimited_plan):
    organization, members = org
    team = billing_team(organization)
    admin = token_client(members["admin"].user, organization)
    owner = token_client(members["owner"].user, organization)
    body = {"email": "accomplice@example.com", "role": "viewer", "team_ids": [str(team.id)]}

    refused = admin.post(org_url(organization, "invites"), body, format="json")
    allowed = owner.post(org_url(organization, "invites"), body, format="json")

    assert refused.status_code == 403 and code_of(refused) == "INSUFFICIENT_PERMISSIONS"
    assert allowed.status_code == 201, allowed.content


def test_resending_an_invite_with_such_a_team_needs_the_same(org, unlimited_plan):
    organization, members = org
    team = billing_team(organization)
    owner = token_client(members["owner"].user, organization)
    invite_id = owner.post(org_url(organization, "invites"), {"email": "new@example.com", "role": "viewer", "team_ids": [str(team.id)]}, format="json").json()[
        "id"
    ]

    # The new code is returned to whoever resends: an admin could hand it to an accomplice.
    response = token_client(members["admin"].user, organization).post(org_url(organization, f"invites/{invite_id}/resend"))

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"


def freeze_team(organization, members):
    """A team under a deny on billing:manage and org:delete, with the member on it."""
    team = TeamFactory(organization=organization, name="Frozen")
    TeamMembership.objects.create(team=team, user=members["member"].user)
    policy(organization, effect="deny", permissions=["billing:manage", "org:delete"], subjects={"teams": [str(team.id)]}, name="frozen")
    return team


def test_taking_someone_off_a_deny_team_needs_what_the_deny_covers(org):
    organization, members = org
    team = freeze_team(organization, members)
    admin = token_client(members["admin"].user, organization)
    url = org_url(organization, f"teams/{team.id}/members/{members['member'].user_id}")

    refused = admin.delete(url)
    deleted_team = admin.delete(org_url(organization, f"teams/{team.id}"))
    allowed = token_client(members["owner"].user, organization).delete(url)

    assert refused.status_code == 403 and code_of(refused) == "INSUFFICIENT_PERMISSIONS"
    assert deleted_team.status_code == 403  # deleting the team takes everyone off it at once
    assert allowed.status_code == 204


def test_putting_a_better_under_a_team_deny_is_acting_on_them(org):
    organization, members = org
    team = TeamFactory(organization=organization, name="Read-only")
    policy(organization, effect="deny", permissions=["members:remove"], subjects={"teams": [str(team.id)]})
    admin = token_client(members["admin"].user, organization)

    on_owner = admin.post(org_url(organization, f"teams/{team.id}/members"), {"user_id": str(members["owner"].user_id)}, format="json")
    on_member = admin.post(org_url(organization, f"teams/{team.id}/members"), {"user_id": str(members["member"].user_id)}, format="json")

    assert on_owner.status_code == 403
    assert on_member.status_code == 201, on_member.content


def test_a_role_named_by_an_allow_policy_carries_it_to_whoever_gets_the_role(org, unlimited_plan):
    organization, members = org
    policy(organization, effect="allow", permissions=["billing:manage"], subjects={"roles": ["viewer"]}, name="viewers pay")
    role = Role.objects.create(organization=organization, slug="auditors", name="Auditors", permissions=["org:read"])
    policy(organization, effect="allow", permissions=["org:delete"], subjects={"roles": ["auditors"]}, name="auditors delete")
    admin = token_client(members["admin"].user, organization)

    demoted = admin.patch(org_url(organization, f"members/{members['member'].user_id}"), {"role": "viewer"}, format="json")
    assigned = admin.post(org_url(organization, "role-assignments"), {"user_id": str(members["member"].user_id), "role_id": str(role.id)}, format="json")
    invited = admin.post(org_url(organization, "invites"), {"email": "x@example.com", "role": "viewer"}, format="json")

    assert demoted.status_code == 403 and "billing:manage" in demoted.json()["error"]["message"]
    assert assigned.status_code == 403 and "org:delete" in assigned.json()["error"]["message"]
    assert invited.status_code == 403
    assert Membership.objects.get(id=members["member"].id).role == "member"
    assert not RoleAssignment.objects.exists()


# --- finding 5: the owner locked out ---------------------------------------------------------------------

LOCKOUT = ["roles:manage", "members:remove", "members:update", "api_keys:manage", "audit:read"]


@pytest.mark.parametrize("aim", ["role", "user", "team", "everyone"])
def test_an_admin_cannot_aim_a_deny_at_the_owner(org, aim):
    organization, members = org
    owner_id = str(members["owner"].user_id)
    team = TeamFactory(organization=organization)
    TeamMembership.objects.create(team=team, user=members["owner"].user)
    subjects = {"role": {"roles": ["owner"]}, "user": {"users": [owner_id]}, "team": {"teams": [str(team.id)]}, "everyone": {}}[aim]
    admin = token_client(members["admin"].user, organization, mfa=True)

    response = admin.post(org_url(organization, "policies"), {"name": "lock", "effect": "deny", "permissions": LOCKOUT, "subjects": subjects}, format="json")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert not Policy.objects.exists()


def test_an_admin_may_still_aim_a_deny_at_lesser_members(org):
    organization, members = org
    admin = token_client(members["admin"].user, organization)

    response = admin.post(
        org_url(organization, "policies"),
        {"name": "no writes", "effect": "deny", "permissions": ["documents:write"], "subjects": {"roles": ["member", "viewer"]}},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_an_admin_cannot_turn_an_existing_deny_onto_the_owner(org):
    organization, members = org
    existing = policy(organization, effect="deny", permissions=["documents:write"], subjects={"roles": ["member"]})
    admin = token_client(members["admin"].user, organization)

    response = admin.patch(org_url(organization, f"policies/{existing.id}"), {"subjects": {"roles": ["member", "owner"]}}, format="json")

    assert response.status_code == 403
    assert Policy.objects.get(id=existing.id).subjects == {"roles": ["member"]}


def test_a_deny_on_the_owner_never_takes_roles_manage_and_the_owner_deletes_it(org):
    organization, members = org
    lock = policy(organization, effect="deny", permissions=["*"], subjects={"roles": ["owner"]}, name="lock the owner")
    owner = token_client(members["owner"].user, organization)

    listed = owner.get(org_url(organization, "policies"))
    deleted = owner.delete(org_url(organization, f"policies/{lock.id}"))
    removed = owner.delete(org_url(organization, f"members/{members['admin'].user_id}"))

    assert listed.status_code == 200
    assert deleted.status_code == 204, deleted.content
    assert removed.status_code == 204, removed.content


def test_the_owner_edits_and_deletes_their_own_ip_deny_from_outside_the_range(org):
    organization, members = org
    owner = token_client(members["owner"].user, organization)
    created = owner.post(
        org_url(organization, "policies"),
        {
            "name": "keys from the office",
            "effect": "deny",
            "permissions": ["api_keys:manage", "roles:manage"],
            "subjects": {"users": [str(members["owner"].user_id)]},
            "conditions": {"ip_ranges": ["10.0.0.0/8"]},
        },
        format="json",
        REMOTE_ADDR="10.0.0.5",
    )
    assert created.status_code == 201, created.content
    url = org_url(organization, f"policies/{created.json()['id']}")

    patched = owner.patch(url, {"conditions": {"ip_ranges": ["192.168.0.0/16"]}}, format="json", REMOTE_ADDR="203.0.113.9")
    deleted = owner.delete(url, REMOTE_ADDR="203.0.113.9")

    assert patched.status_code == 200, patched.content
    assert deleted.status_code == 204, deleted.content


def test_an_admin_outside_the_range_still_cannot_lift_an_ip_deny(org):
    organization, members = org
    office = policy(organization, effect="deny", permissions=["org:update"], subjects={"roles": ["admin"]}, conditions={"ip_ranges": ["10.0.0.0/8"]})

    response = token_client(members["admin"].user, organization).delete(org_url(organization, f"policies/{office.id}"), REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403


def test_the_owner_needs_mfa_for_a_policy_change_a_policy_puts_behind_mfa(org):
    organization, members = org
    mfa_lock = policy(organization, effect="deny", permissions=["roles:manage"], conditions={"mfa_required": True}, name="mfa for policies")

    without = token_client(members["owner"].user, organization).delete(org_url(organization, f"policies/{mfa_lock.id}"))
    with_mfa = token_client(members["owner"].user, organization, mfa=True).delete(org_url(organization, f"policies/{mfa_lock.id}"))

    assert without.status_code == 403 and code_of(without) == "MFA_REQUIRED"
    assert with_mfa.status_code == 204


def test_deny_policies_never_take_roles_manage_from_the_owner_in_the_engine():
    owner = engine.Subject(user_id="o", roles=frozenset({"owner"}), permissions=frozenset({"roles:manage", "members:remove"}))
    admin = engine.Subject(user_id="a", roles=frozenset({"admin"}), permissions=frozenset({"roles:manage", "members:remove"}))
    deny = [engine._PolicyRule(name="lock", effect="deny", permissions=frozenset({"*"}))]

    def allowed(subject, permission):
        return engine.decide(subject=subject, policies=deny, permission=permission, facts=engine.Facts()).allowed

    assert allowed(owner, "roles:manage")
    assert not allowed(owner, "members:remove")  # only roles:manage: the owner lifts the rest themselves
    assert not allowed(admin, "roles:manage")


def test_taking_a_role_away_from_a_better_is_refused(org):
    organization, members = org
    readers = Role.objects.create(organization=organization, slug="readers", name="Readers", permissions=["org:read"])
    assignment = RoleAssignment.objects.create(organization=organization, user=members["admin"].user, role=readers)
    Role.objects.create(organization=organization, slug="role-admin", name="Role admin", permissions=["roles:manage", "members:read", "org:read"])
    clerk = MembershipFactory(organization=organization, role="role-admin")
    client = token_client(clerk.user, organization)

    by_id = client.delete(org_url(organization, f"role-assignments/{assignment.id}"))
    by_body = client.delete(org_url(organization, "role-assignments"), {"user_id": str(members["admin"].user_id), "role_id": str(readers.id)}, format="json")

    assert by_id.status_code == 403 and by_body.status_code == 403
    assert RoleAssignment.objects.filter(id=assignment.id).exists()
