"""Permission writes: custom roles, extra role assignments and policies.

Every change bumps the org's authorization revision (so cached decisions die at once)
and is audited in its transaction. Each write that hands out, takes away or conditions
permissions first asks `ensure_grantable` (the caller's no-escalation check, given by
the API layer) about exactly the permissions it touches; each write that takes from or
restricts members asks `ensure_not_better` (the "not on a better" check) about them.
"""

import re
from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils.text import slugify

from audit.services import event_record
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, forbidden, validation_error
from core.roles import BUILTIN_ROLES
from core.roles import Role as BuiltinRole
from core.services import model_update
from organizations.models import Invite, Membership, Organization, Team, TeamMembership
from organizations.services import authz_revision_bump
from permissions import catalog, engine
from permissions.models import Policy, Role, RoleAssignment

# Called with the permissions a write would grant, revoke or condition; raises when the caller may not.
GrantCheck = Callable[[Iterable[str]], None]
# Called with the members a write takes from or restricts; raises when one holds what the caller does not.
MemberCheck = Callable[[Iterable[Membership]], None]

WILDCARD = "*"
_ROLE_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,48}[a-z0-9])?$")
BUILTIN_ROLE_DETAILS = {
    BuiltinRole.OWNER: ("Owner", "Everything, including deleting and transferring the organization and billing."),
    BuiltinRole.ADMIN: ("Admin", "Everything but deleting or transferring the organization and managing billing."),
    BuiltinRole.MEMBER: ("Member", "Read the organization, members and teams; write documents."),
    BuiltinRole.VIEWER: ("Viewer", "Read-only access to the organization, members and teams."),
}


# --- helpers --------------------------------------------------------------------------------


def _audit(*, action: str, actor: Actor, organization: Organization, target, changes: dict | None = None, metadata: dict | None = None) -> None:
    event_record(action=action, actor=actor, organization_id=organization.id, target=target, changes=changes, metadata=metadata)


def permissions_validate(permissions: Iterable[str], *, field: str = "permissions", allow_wildcard: bool = False) -> list[str]:
    """Declared permission codes only (400 naming the unknown ones); sorted, without duplicates."""
    permissions = set(permissions)
    unknown = sorted(p for p in permissions if not catalog.is_declared(p) and not (allow_wildcard and p == WILDCARD))
    if unknown:
        raise validation_error(field, f"Unknown permission(s): {', '.join(unknown)}.")
    return sorted(permissions)


def covered_permissions(permissions: Iterable[str]) -> frozenset[str]:
    """The catalog permissions a policy's list covers (`*` covers them all)."""
    permissions = frozenset(permissions)
    return catalog.codes() if WILDCARD in permissions else permissions & catalog.codes()


def role_grants(role: Role) -> frozenset[str]:
    """What a role grants: built-in roles from code (never the stored column), custom ones from their row."""
    if role.is_builtin:
        return engine.builtin_permissions(role.slug)
    return frozenset(role.permissions or []) & catalog.codes()


def _custom_only(role: Role) -> None:
    if role.is_builtin:
        raise forbidden("Built-in roles are read-only.")


# --- roles ----------------------------------------------------------------------------------


def roles_builtin_ensure(*, organization: Organization) -> None:
    """Materialize the built-in roles of an org as rows (so they have ids), once."""
    if Role.objects.filter(organization=organization, is_builtin=True).count() >= len(BUILTIN_ROLES):
        return
    # ignore_conflicts: concurrent first requests may race to create the same rows. No revision
    # bump: a built-in row grants exactly what its slug already granted.
    Role.objects.bulk_create(
        [
            Role(organization=organization, slug=slug, name=BUILTIN_ROLE_DETAILS[slug][0], description=BUILTIN_ROLE_DETAILS[slug][1], is_builtin=True)
            for slug in BUILTIN_ROLES
        ],
        ignore_conflicts=True,
    )


def _role_slug(*, slug: str | None, name: str) -> str:
    slug = (slug or "").strip().lower() or slugify(name)[:50].strip("-_")
    if not slug:
        raise validation_error("slug", "Give a slug: 1-50 lowercase letters, digits, hyphens and underscores.")
    if not _ROLE_SLUG_RE.match(slug):
        raise validation_error("slug", "Use 1-50 lowercase letters, digits, hyphens and underscores.")
    if BuiltinRole.is_builtin(slug):
        raise validation_error("slug", f"'{slug}' is a built-in role.")
    return slug


def _name_clean(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise validation_error("name", "This field may not be blank.")
    return name


@transaction.atomic
def role_create(
    *,
    organization: Organization,
    actor: Actor,
    name: str,
    permissions: Iterable[str],
    ensure_grantable: GrantCheck,
    slug: str | None = None,
    description: str = "",
) -> Role:
    """Create a custom role (slug unique in the org, never a built-in one; 409 when taken)."""
    name = _name_clean(name)
    slug = _role_slug(slug=slug, name=name)
    permissions = permissions_validate(permissions)
    if Role.objects.filter(organization=organization, slug=slug).exists():
        raise conflict("A role with this slug already exists.", slug=["A role with this slug already exists."])
    ensure_grantable(permissions)
    try:
        with transaction.atomic():
            role = Role.objects.create(organization=organization, slug=slug, name=name, description=description or "", permissions=permissions)
    except IntegrityError:
        raise conflict("A role with this slug already exists.", slug=["A role with this slug already exists."]) from None
    authz_revision_bump(organization=organization)
    _audit(
        action="role.created",
        actor=actor,
        organization=organization,
        target=role,
        changes={"slug": [None, slug], "name": [None, name], "description": [None, role.description], "permissions": [None, permissions]},
    )
    return role


def _permissions_change(*, role: Role, actor: Actor, permissions: Iterable[str], ensure_grantable: GrantCheck) -> bool:
    old = sorted(role.permissions or [])
    new = permissions_validate(permissions)
    if new == old:
        return False
    # Adding and removing both change what members can do: the caller must hold each one.
    ensure_grantable(set(old) ^ set(new))
    role.permissions = new
    role.save(update_fields=["permissions", "updated_at"])
    _audit(
        action="role.permissions_changed",
        actor=actor,
        organization=role.organization,
        target=role,
        changes={"permissions": [old, new]},
        metadata={"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new))},
    )
    return True


@transaction.atomic
def role_update(*, role: Role, actor: Actor, data: dict, ensure_grantable: GrantCheck) -> Role:
    """Change a custom role's name, description and/or permissions (its slug never changes: members refer to it)."""
    _custom_only(role)
    role = Role.objects.select_for_update().select_related("organization").get(id=role.id)
    if "slug" in data and data["slug"] != role.slug:
        raise validation_error("slug", "A role's slug cannot change (members and invitations refer to it).")
    fields = {key: data[key] for key in ("name", "description") if key in data}
    if "name" in fields:
        fields["name"] = _name_clean(fields["name"])
    permissions_changed = False
    if "permissions" in data:
        permissions_changed = _permissions_change(role=role, actor=actor, permissions=data["permissions"], ensure_grantable=ensure_grantable)
    role, changes = model_update(instance=role, fields=["name", "description"], data=fields)
    if changes:
        _audit(action="role.updated", actor=actor, organization=role.organization, target=role, changes=changes)
    if changes or permissions_changed:
        authz_revision_bump(organization=role.organization)
    return role


@transaction.atomic
def role_permissions_set(*, role: Role, actor: Actor, permissions: Iterable[str], ensure_grantable: GrantCheck) -> Role:
    """Replace a custom role's permissions."""
    _custom_only(role)
    role = Role.objects.select_for_update().select_related("organization").get(id=role.id)
    if _permissions_change(role=role, actor=actor, permissions=permissions, ensure_grantable=ensure_grantable):
        authz_revision_bump(organization=role.organization)
    return role


def role_usage(*, role: Role) -> list[str]:
    """What still refers to a role: members' base role, assignments, pending invitations, policies."""
    organization_id = role.organization_id
    usage = []
    if Membership.objects.filter(organization_id=organization_id, role=role.slug).exists():
        usage.append("members")
    if RoleAssignment.objects.filter(role=role).exists():
        usage.append("assignments")
    if Invite.objects.pending().filter(organization_id=organization_id, role=role.slug).exists():
        usage.append("invites")
    # Policies are few per org; a JSON containment lookup is not portable to SQLite.
    if any(
        role.slug in (subjects or {}).get("roles", []) for subjects in Policy.objects.filter(organization_id=organization_id).values_list("subjects", flat=True)
    ):
        usage.append("policies")
    return usage


@transaction.atomic
def role_delete(*, role: Role, actor: Actor) -> None:
    """Delete a custom role nobody uses (409 while members, assignments, invitations or policies refer to it)."""
    _custom_only(role)
    role = Role.objects.select_for_update().select_related("organization").get(id=role.id)
    usage = role_usage(role=role)
    if usage:
        raise conflict(f"This role is in use ({', '.join(usage)}); move its members to another role first.", in_use=usage)
    organization = role.organization
    _audit(
        action="role.deleted",
        actor=actor,
        organization=organization,
        target=role,
        changes={"slug": [role.slug, None], "name": [role.name, None], "permissions": [sorted(role.permissions or []), None]},
    )
    try:
        with transaction.atomic():
            role.delete()
    except ProtectedError:  # an assignment slipped in since the check
        raise conflict("This role is in use (assignments).", in_use=["assignments"]) from None
    authz_revision_bump(organization=organization)


# --- role assignments -----------------------------------------------------------------------


@transaction.atomic
def role_assignment_create(
    *, organization: Organization, actor: Actor, user_id, role_id, ensure_grantable: GrantCheck, ensure_not_better: MemberCheck
) -> RoleAssignment:
    """Give an active member an extra role of this org (never owner; 409 when they already have it)."""
    membership = Membership.objects.select_related("user").filter(organization=organization, user_id=user_id, status=Membership.Status.ACTIVE).first()
    if membership is None:
        raise validation_error("user_id", "This user is not an active member of the organization.")
    # Same answer for a missing role and another org's role: existence is never revealed.
    role = Role.objects.filter(organization=organization, id=role_id).first()
    if role is None:
        raise validation_error("role_id", "Unknown role.")
    if role.slug == BuiltinRole.OWNER:
        raise forbidden("Ownership changes only through transfer-ownership.")
    if membership.role == role.slug or RoleAssignment.objects.filter(organization=organization, user_id=user_id, role=role).exists():
        raise conflict("This member already has this role.")
    stakes = engine.role_stakes(organization=organization, slug=role.slug)
    ensure_grantable(stakes.grants)
    if stakes.denies:
        # A role named by deny policies puts its holder under them: that is acting on the member.
        ensure_not_better([membership])
    try:
        with transaction.atomic():
            assignment = RoleAssignment.objects.create(
                organization=organization,
                user=membership.user,
                role=role,
                assigned_by=actor.user,
            )
    except IntegrityError:
        raise conflict("This member already has this role.") from None
    authz_revision_bump(organization=organization)
    _audit(
        action="role.assigned",
        actor=actor,
        organization=organization,
        target=membership.user,
        changes={"roles": [None, role.slug]},
        metadata={"assignment_id": str(assignment.id), "role_id": str(role.id)},
    )
    return assignment


@transaction.atomic
def role_assignment_delete(*, assignment: RoleAssignment, actor: Actor, ensure_grantable: GrantCheck, ensure_not_better: MemberCheck) -> None:
    """Take an extra role away from a member (only from one who holds nothing the caller does not)."""
    assignment = RoleAssignment.objects.select_related("organization", "role", "user").get(id=assignment.id)
    organization = assignment.organization
    # Revoking is checked like granting: nobody takes away what they could not hand out.
    ensure_grantable(engine.role_stakes(organization=organization, slug=assignment.role.slug).grants)
    # Taking a role away demotes the member: never a better one (API.md v1.1 invariant 2).
    ensure_not_better(Membership.objects.filter(organization=organization, user_id=assignment.user_id))
    _audit(
        action="role.unassigned",
        actor=actor,
        organization=organization,
        target=assignment.user,
        changes={"roles": [assignment.role.slug, None]},
        metadata={"assignment_id": str(assignment.id), "role_id": str(assignment.role_id)},
    )
    assignment.delete()
    authz_revision_bump(organization=organization)


# --- policies -------------------------------------------------------------------------------


def _subjects_validate(*, organization: Organization, subjects: dict) -> dict:
    """Roles the org knows, users who are its members, teams that are its teams (400 naming the rest)."""
    known_of = {
        "roles": (
            lambda slugs: set(BUILTIN_ROLES) | set(Role.objects.filter(organization=organization, slug__in=slugs).values_list("slug", flat=True)),
            "Unknown role(s)",
        ),
        "users": (
            lambda ids: {str(u) for u in Membership.objects.filter(organization=organization, user_id__in=ids).values_list("user_id", flat=True)},
            "Not member(s) of the organization",
        ),
        "teams": (
            lambda ids: {str(t) for t in Team.objects.filter(organization=organization, id__in=ids).values_list("id", flat=True)},
            "Unknown team(s)",
        ),
    }
    clean: dict = {}
    errors: dict = {}
    for key, (known, message) in known_of.items():
        if key not in subjects:
            continue
        values = sorted({str(value) for value in subjects[key]})
        present = known(values)
        unknown = [value for value in values if value not in present]
        if unknown:
            errors[key] = [f"{message}: {', '.join(unknown)}."]
        clean[key] = values
    if errors:
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message="Invalid policy subjects.", details={"subjects": errors})
    return clean


def _policy_values(*, organization: Organization, data: dict) -> dict:
    values = dict(data)
    if "name" in values:
        values["name"] = _name_clean(values["name"])
    if "permissions" in values:
        values["permissions"] = permissions_validate(values["permissions"], allow_wildcard=True)
        if not values["permissions"]:
            raise validation_error("permissions", "Name at least one permission (or `*`).")
    if "subjects" in values:
        values["subjects"] = _subjects_validate(organization=organization, subjects=values["subjects"] or {})
    if "conditions" in values:
        values["conditions"] = dict(values["conditions"] or {})
    return values


def policy_members(*, organization: Organization, subjects: dict) -> list[Membership]:
    """The members a policy with these subjects applies to: named users, holders of named roles, members of named teams; everyone without subjects."""
    members = Membership.objects.filter(organization=organization)
    roles, users, teams = (subjects or {}).get("roles") or [], (subjects or {}).get("users") or [], (subjects or {}).get("teams") or []
    if not (roles or users or teams):
        return list(members)
    user_ids = {str(u) for u in users}
    if roles:
        user_ids |= {str(u) for u in members.filter(role__in=roles).values_list("user_id", flat=True)}
        user_ids |= {str(u) for u in RoleAssignment.objects.filter(organization=organization, role__slug__in=roles).values_list("user_id", flat=True)}
    if teams:
        user_ids |= {str(u) for u in TeamMembership.objects.filter(team__organization=organization, team_id__in=teams).values_list("user_id", flat=True)}
    return list(members.filter(user_id__in=user_ids))


@transaction.atomic
def policy_create(
    *,
    organization: Organization,
    actor: Actor,
    name: str,
    effect: str,
    permissions: Iterable[str],
    ensure_grantable: GrantCheck,
    ensure_not_better: MemberCheck,
    subjects: dict | None = None,
    conditions: dict | None = None,
) -> Policy:
    """Create an allow or deny policy (about permissions the caller holds: no escalation, no lock-out of betters)."""
    values = _policy_values(
        organization=organization,
        data={"name": name, "effect": effect, "permissions": permissions, "subjects": subjects or {}, "conditions": conditions or {}},
    )
    if values["effect"] not in Policy.Effect.values:
        raise validation_error("effect", "Use allow or deny.")
    ensure_grantable(covered_permissions(values["permissions"]))
    if values["effect"] == Policy.Effect.DENY:
        # Naming a member (their user, role or team; or everyone) in a deny acts on them: never on a better.
        ensure_not_better(policy_members(organization=organization, subjects=values["subjects"]))
    policy = Policy.objects.create(organization=organization, **values)
    authz_revision_bump(organization=organization)
    _audit(
        action="policy.created",
        actor=actor,
        organization=organization,
        target=policy,
        changes={field: [None, value] for field, value in values.items()},
    )
    return policy


@transaction.atomic
def policy_update(*, policy: Policy, actor: Actor, data: dict, ensure_grantable: GrantCheck, ensure_not_better: MemberCheck) -> Policy:
    """Change a policy; subjects and conditions, when given, replace the old ones whole."""
    policy = Policy.objects.select_for_update().select_related("organization").get(id=policy.id)
    organization = policy.organization
    values = _policy_values(organization=organization, data=data)
    if "effect" in values and values["effect"] not in Policy.Effect.values:
        raise validation_error("effect", "Use allow or deny.")
    old_covered = covered_permissions(policy.permissions)
    fields = ["name", "effect", "permissions", "subjects", "conditions"]
    changing = {field for field in fields if values.get(field, getattr(policy, field)) != getattr(policy, field)}
    if changing:
        # What the policy covered and what it will cover: changing either end changes who may do it.
        ensure_grantable(old_covered | covered_permissions(values.get("permissions", policy.permissions)))
    if changing - {"name"} and values.get("effect", policy.effect) == Policy.Effect.DENY:
        # The deny as it will be acts on the members it will name: never on a better.
        ensure_not_better(policy_members(organization=organization, subjects=values.get("subjects", policy.subjects)))
    policy, changes = model_update(instance=policy, fields=fields, data=values)
    if changes:
        authz_revision_bump(organization=organization)
        _audit(action="policy.updated", actor=actor, organization=organization, target=policy, changes=changes)
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy, actor: Actor, ensure_grantable: GrantCheck) -> None:
    """Delete a policy (lifting a deny is checked like granting)."""
    policy = Policy.objects.select_for_update().select_related("organization").get(id=policy.id)
    ensure_grantable(covered_permissions(policy.permissions))
    organization = policy.organization
    _audit(
        action="policy.deleted",
        actor=actor,
        organization=organization,
        target=policy,
        changes={field: [getattr(policy, field), None] for field in ("name", "effect", "permissions", "subjects", "conditions")},
    )
    policy.delete()
    authz_revision_bump(organization=organization)
