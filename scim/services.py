"""SCIM writes: members (Users) and teams (Groups) of one org, through the organizations services.

Adding, suspending, reactivating and removing members, and every team change, go through the same
services the REST API uses, so their rules (allowed domains, member limit, owner protection) and
audit events apply; the actor is the org's SCIM token (audit actor type `scim`). On top of them:
- the token acts with its creator's permissions (scim.authz): no escalation, not on a better;
- the owner is never provisioned: any change to the owner, or to the owner's teams, is 403;
- accounts are platform-wide, so SCIM creates or adds one only for an address at one of the org's
  verified domains (400 `invalidValue` otherwise); an existing account joins only when its e-mail
  is verified too (the direct-add rule, API.md v1.1 invariant 3; 409 otherwise); a new account is
  created with no usable password and an unverified e-mail; new members get the org's
  `default_role`, never more; SCIM never changes an account's e-mail;
- a person's name (and per-org display name and title) are the IdP's only for accounts this org's
  SCIM created; on others they are read-only here (API.md v1.1: org admins cannot rename users).
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from accounts.services import user_create as account_create
from accounts.services import user_names_resolve
from audit.services import event_record
from core import entitlements
from core.actor import Actor
from core.roles import Role
from core.services import model_update
from organizations import teams as team_services
from organizations.invites import members_used
from organizations.models import Domain, Membership, Organization, Team, TeamMembership
from organizations.permissions import MEMBERS_INVITE, MEMBERS_REMOVE, MEMBERS_UPDATE, TEAMS_MANAGE
from organizations.services import default_role, email_domain_require, member_profile_update, member_remove, member_update, membership_add
from scim import selectors
from scim.authz import ScimAuthority
from scim.errors import ScimError, bad_request
from scim.models import ScimGroup, ScimUser
from scim.payloads import UNSET, GroupChanges, UserChanges


@dataclass(frozen=True)
class ScimCall:
    """One SCIM request's org, the token's authority in it, and the actor audit records."""

    organization: Organization
    authority: ScimAuthority
    actor: Actor


def _owner_refuse(membership: Membership) -> None:
    if membership.role == Role.OWNER:
        raise ScimError(403, "The organization's owner is not managed by SCIM.")


def _uniqueness(detail: str) -> ScimError:
    return ScimError(409, detail, "uniqueness")


def _verified_domain_require(*, organization: Organization, email: str) -> None:
    """Refuse (400 invalidValue) an address outside the org's verified domains."""
    domain = email.rsplit("@", 1)[1].lower() if "@" in email else ""
    verified = set(Domain.objects.filter(organization=organization, verified_at__isnull=False).values_list("domain", flat=True))
    # Accounts are global: an org's IdP speaks only for the mailboxes the org proved it owns. Anywhere
    # else it would squat other people's addresses (gmail.com, a competitor) or enrol their accounts.
    if domain not in {name.lower() for name in verified}:
        where = f"at one of its verified domains ({', '.join(sorted(verified))})" if verified else "once it has verified a domain"
        raise bad_request(f"userName is not at one of the organization's verified domains: SCIM creates or adds accounts only {where}. Invite anyone else.")


def _existing_account_require(*, user) -> None:
    """Refuse (409 uniqueness) an existing account the direct-add rule does not let in (invariant 3)."""
    if not user.is_active:
        raise _uniqueness("An account with this userName exists but is deactivated; it cannot be provisioned.")
    # The address was registered without proving the mailbox: whoever did it must not get the org's membership.
    if not user.email_verified:
        raise _uniqueness(
            "An account with this userName exists but has not verified its e-mail address, so it cannot be provisioned: "
            "its holder must verify the address first (or invite the person)."
        )


# --- users --------------------------------------------------------------------------------------


@transaction.atomic
def user_provision(*, call: ScimCall, changes: UserChanges) -> Membership:
    """Add a member for a userName (the account is created when new) with the org's default role."""
    organization, authority = call.organization, call.authority
    authority.require(MEMBERS_INVITE)
    role = default_role(organization=organization)
    # Nobody hands out more than they hold (invariant 1), the default role included.
    authority.ensure_role_grantable(role)
    email = changes.user_name
    external_id = changes.external_id if changes.external_id is not UNSET else ""
    # Lock the org row: concurrent provisioning neither takes the last seat twice nor races on externalId.
    Organization.objects.select_for_update().only("id").get(id=organization.id)
    if selectors.external_id_taken(organization=organization, external_id=external_id, model=ScimUser):
        raise _uniqueness("Another user of this organization has this externalId.")
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None and Membership.objects.filter(organization=organization, user=user).exists():
        raise _uniqueness("This userName is already a member of the organization.")
    _verified_domain_require(organization=organization, email=email)
    if user is not None:
        _existing_account_require(user=user)
    email_domain_require(organization=organization, email=email, field="userName")
    entitlements.require(organization, "max_members", used=members_used(organization))
    created_user = user is None
    if created_user:
        given = changes.given_name if changes.given_name is not UNSET else None
        family = changes.family_name if changes.family_name is not UNSET else None
        # No usable password and an unverified e-mail: the person proves the mailbox themselves.
        user = account_create(email=email, password=None, first_name=given, last_name=family)
        event_record(
            action="user.created",
            actor=call.actor,
            organization_id=organization.id,
            target=user,
            changes={"email": [None, user.email]},
            metadata={"source": "scim"},
        )
    membership = membership_add(organization=organization, user=user, role=role, actor=call.actor, source="scim", action="member.added")
    ScimUser.objects.create(membership=membership, organization=organization, external_id=external_id, created_user=created_user)
    profile = {key: value for key, value in changes.profile().items() if value}
    if profile and created_user:
        member_profile_update(membership=membership, data=profile, actor=call.actor)
    if changes.active is False:
        membership = member_update(
            membership=membership,
            actor=call.actor,
            actor_membership=None,
            data={"status": Membership.Status.SUSPENDED},
            ensure_role_grantable=authority.ensure_role_grantable,
            ensure_not_better=authority.ensure_not_better,
        )
    return membership


def _names_update(*, call: ScimCall, membership: Membership, names: dict) -> None:
    user = membership.user
    if Membership.objects.filter(user=user).exclude(organization_id=call.organization.id).exists():
        return  # a person in other orgs too: their name is not this org's IdP's to change
    resolved = user_names_resolve(first_name=names.get("first_name"), last_name=names.get("last_name"), user=user)
    user, changed = model_update(instance=user, fields=["first_name", "last_name", "full_name"], data=resolved)
    if changed:
        event_record(action="user.updated", actor=call.actor, organization_id=call.organization.id, target=user, changes=changed, metadata={"source": "scim"})


@transaction.atomic
def user_change(*, call: ScimCall, membership: Membership, changes: UserChanges) -> Membership:
    """Apply a PUT or PATCH to a member: externalId, active (suspend/reactivate) and, where the IdP owns them, names."""
    _owner_refuse(membership)
    authority = call.authority
    authority.require(MEMBERS_UPDATE)
    if changes.user_name is not UNSET and changes.user_name != membership.user.email.lower():
        raise ScimError(400, "userName is the account's e-mail: it changes only on the account itself.", "mutability")
    # Any change acts on the member: never on a better of the token's creator (invariant 2).
    authority.ensure_not_better(membership)
    # A member added otherwise has no row until the IdP first links it (externalId).
    row = ScimUser.objects.filter(membership=membership).first() or ScimUser(membership=membership, organization_id=membership.organization_id)
    if changes.external_id is not UNSET and changes.external_id != row.external_id:
        if selectors.external_id_taken(organization=call.organization, external_id=changes.external_id, model=ScimUser, exclude=row.pk):
            raise _uniqueness("Another user of this organization has this externalId.")
        old = row.external_id
        row.external_id = changes.external_id
        row.save()
        event_record(
            action="member.scim_updated",
            actor=call.actor,
            organization_id=call.organization.id,
            target=membership.user,
            changes={"external_id": [old, row.external_id]},
        )
    if row.created_user:
        if changes.names():
            _names_update(call=call, membership=membership, names=changes.names())
        if changes.profile():
            member_profile_update(membership=membership, data=changes.profile(), actor=call.actor)
    if changes.active is not UNSET:
        wanted = Membership.Status.ACTIVE if changes.active else Membership.Status.SUSPENDED
        if wanted != membership.status:
            membership = member_update(
                membership=membership,
                actor=call.actor,
                actor_membership=None,
                data={"status": wanted},
                ensure_role_grantable=authority.ensure_role_grantable,
                ensure_not_better=authority.ensure_not_better,
            )
    return membership


@transaction.atomic
def user_deprovision(*, call: ScimCall, membership: Membership) -> None:
    """Remove the membership (the account stays): never the owner, never a better of the token's creator."""
    _owner_refuse(membership)
    call.authority.require(MEMBERS_REMOVE)
    member_remove(membership=membership, actor=call.actor, ensure_not_better=call.authority.ensure_not_better)


# --- groups -------------------------------------------------------------------------------------


def _team_member_ids(team: Team) -> dict[str, Membership]:
    """The team's members as {SCIM User id: membership}."""
    users = TeamMembership.objects.filter(team=team).values("user_id")
    rows = Membership.objects.filter(organization_id=team.organization_id, user_id__in=users)
    return {str(row.id): row for row in rows}


def _members_apply(*, call: ScimCall, team: Team, changes: GroupChanges) -> None:
    current = _team_member_ids(team)
    if changes.members_set is not UNSET:
        target = set(changes.members_set) | set(changes.members_add)
        target -= set(changes.members_remove)
    else:
        target = (set(current) | set(changes.members_add)) - set(changes.members_remove)
    adding = sorted(target - set(current))
    removing = sorted(set(current) - target)
    found = selectors.members_by_id(organization=call.organization, ids=adding)
    unknown = [value for value in adding if value not in found]
    if unknown:
        raise bad_request(f"Not users of this organization: {', '.join(unknown[:10])}.")
    authority = call.authority
    for membership_id in adding:
        membership = found[membership_id]
        _owner_refuse(membership)
        team_services.team_member_add(
            team=team,
            user_id=membership.user_id,
            actor=call.actor,
            ensure_joinable=lambda member: authority.ensure_team_joinable(team.id, member),
        )
    for membership_id in removing:
        membership = current[membership_id]
        _owner_refuse(membership)
        team_services.team_member_remove(
            team=team,
            user_id=membership.user_id,
            actor=call.actor,
            ensure_leavable=lambda members: authority.ensure_team_leavable(team.id, members),
        )


def _group_external_id(*, call: ScimCall, team: Team, external_id: str) -> None:
    row = ScimGroup.objects.filter(team=team).first() or ScimGroup(team=team, organization=call.organization)
    if external_id == row.external_id:
        return
    if selectors.external_id_taken(organization=call.organization, external_id=external_id, model=ScimGroup, exclude=row.pk):
        raise _uniqueness("Another group of this organization has this externalId.")
    old = row.external_id
    row.external_id = external_id
    row.save()
    event_record(action="team.scim_updated", actor=call.actor, organization_id=call.organization.id, target=team, changes={"external_id": [old, external_id]})


@transaction.atomic
def group_provision(*, call: ScimCall, changes: GroupChanges) -> Team:
    """Create a team (displayName unique per org, 409) with its members."""
    call.authority.require(TEAMS_MANAGE)
    team = team_services.team_create(organization=call.organization, name=changes.display_name, actor=call.actor)
    team.organization = call.organization
    external_id = changes.external_id if changes.external_id is not UNSET else ""
    if external_id:
        _group_external_id(call=call, team=team, external_id=external_id)
    _members_apply(call=call, team=team, changes=changes)
    return team


@transaction.atomic
def group_change(*, call: ScimCall, team: Team, changes: GroupChanges) -> Team:
    """Rename a team, set its externalId, add/remove/replace its members."""
    call.authority.require(TEAMS_MANAGE)
    if changes.display_name is not UNSET:
        team = team_services.team_update(team=team, data={"name": changes.display_name}, actor=call.actor)
    if changes.external_id is not UNSET:
        _group_external_id(call=call, team=team, external_id=changes.external_id)
    if changes.members_set is not UNSET or changes.members_add or changes.members_remove:
        _members_apply(call=call, team=team, changes=changes)
    return team


@transaction.atomic
def group_deprovision(*, call: ScimCall, team: Team) -> None:
    """Delete a team; its members stay in the org (taking them off it is checked like leaving)."""
    call.authority.require(TEAMS_MANAGE)
    authority = call.authority
    team_services.team_delete(team=team, actor=call.actor, ensure_leavable=lambda members: authority.ensure_team_leavable(team.id, members))


def integrity_conflict(exc: IntegrityError) -> ScimError:
    """A unique constraint lost to a concurrent request: 409 uniqueness rather than a 500."""
    return _uniqueness("A concurrent change made this conflict; retry.")
