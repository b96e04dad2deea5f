"""Authorization decisions: one function answers every permission question, for views and `check` alike."""

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.cache import cache
from django.db.models import Q

from core import clock
from core.authz import MEMBERSHIP
from core.cache import OutageCopies
from core.errors import ErrorCode
from core.net import ip_in_cidrs
from core.roles import BUILTIN_ROLES  # noqa: F401  (re-exported: callers of the engine read it here)
from core.roles import Role as BuiltinRole
from organizations.context import membership_of
from organizations.models import Membership, Organization, TeamMembership
from permissions import catalog
from permissions.models import Policy, Role
from permissions.permissions import ROLES_MANAGE

_CACHE_SECONDS = 600
_CONDITIONS = ("mfa_required", "ip_ranges", "time_window")


def builtin_permissions(slug: str) -> frozenset[str]:
    """Permissions of a built-in role as the apps' declarations grant them (none for a custom slug), from the live catalog."""
    return catalog.granted_to(slug)


@dataclass(frozen=True)
class Facts:
    """What the request tells about the caller, for policy conditions."""

    mfa: bool = False
    ip: str | None = None
    now: datetime | None = None


@dataclass(frozen=True)
class Subject:
    """Who is asking: a member (with roles and teams) or an API key acting for its creator within its scopes."""

    user_id: str | None
    roles: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    is_api_key: bool = False
    # A key's scopes (None for a member): nothing outside them is ever allowed, allow policies included.
    scopes: frozenset[str] | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    code: str = ErrorCode.INSUFFICIENT_PERMISSIONS


@dataclass
class _PolicyRule:
    name: str
    effect: str
    permissions: frozenset[str]
    roles: frozenset[str] = field(default_factory=frozenset)
    users: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    conditions: dict = field(default_factory=dict)

    @property
    def has_subjects(self) -> bool:
        return bool(self.roles or self.users or self.teams)

    def applies_to(self, subject: Subject) -> bool:
        """Tell whether the rule names the subject; a key is named through its creator's user id, roles and teams."""
        if not self.has_subjects:
            return True
        # No exception for keys: a policy aimed at a member binds every key they made, or a member
        # denied something could mint a key and do it anyway.
        return bool((subject.user_id and subject.user_id in self.users) or (self.roles & subject.roles) or (self.teams & subject.teams))

    def covers(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions


# --- cached inputs ------------------------------------------------------------------------


# With Redis away, the last policies and member subjects this worker read (their keys name the org's
# authorization revision, so a copy is never stale): the outage costs fewer database reads (issue 19).
_outage_copies = OutageCopies()


def _policies_key(organization: Organization) -> str:
    return f"authz:policies:{organization.id}:{organization.authz_revision}"


def organization_policies(organization: Organization, *, fresh: bool = False) -> list[_PolicyRule]:
    """The org's policies, cached per authorization revision."""
    key = _policies_key(organization)
    rules = None if fresh else cache.get(key)
    if rules is None and not fresh:
        rules = _outage_copies.get(key)
    if rules is None:
        rules = [
            _PolicyRule(
                name=p.name,
                effect=p.effect,
                permissions=frozenset(p.permissions),
                roles=frozenset(p.subjects.get("roles") or []),
                users=frozenset(str(u) for u in p.subjects.get("users") or []),
                teams=frozenset(str(t) for t in p.subjects.get("teams") or []),
                conditions=p.conditions or {},
            )
            for p in Policy.objects.filter(organization=organization)
        ]
        cache.set(key, rules, _CACHE_SECONDS)
        _outage_copies.set(key, rules)
    return rules


def _subject_key(organization: Organization, user_id) -> str:
    # The platform catalog's version too: a newly registered code reaches owners and admins at once.
    return f"authz:member:{organization.id}:{user_id}:{organization.authz_revision}:{catalog.version()}"


def member_subject(*, organization: Organization, membership: Membership, fresh: bool = False, policies: list[_PolicyRule] | None = None) -> Subject:
    """A member's roles and effective role permissions, cached per (org, user, revision).

    `policies`: the org's policies when the caller already holds them (member_inputs), so they are
    not read twice (with Redis down that was one query more per request; issue 19).
    """
    key = _subject_key(organization, membership.user_id)
    subject = None if fresh else cache.get(key)
    if subject is None and not fresh:
        subject = _outage_copies.get(key)
    if subject is None:
        rows = (
            Role.objects.filter(organization=organization)
            .filter(Q(slug=membership.role) | Q(assignments__user_id=membership.user_id))
            .values_list("slug", "permissions", "is_builtin")
            .distinct()
        )
        roles = {membership.role}
        granted: set[str] = set(builtin_permissions(membership.role))
        for slug, permissions, is_builtin in rows:
            roles.add(slug)
            granted |= builtin_permissions(slug) if is_builtin else set(permissions or [])
        teams: frozenset[str] = frozenset()
        if policies is None:
            policies = organization_policies(organization, fresh=fresh)
        if any(rule.teams for rule in policies):
            teams = frozenset(
                str(t) for t in TeamMembership.objects.filter(team__organization=organization, user_id=membership.user_id).values_list("team_id", flat=True)
            )
        subject = Subject(
            user_id=str(membership.user_id),
            roles=frozenset(roles),
            teams=teams,
            permissions=frozenset(granted) & catalog.codes(),
        )
        cache.set(key, subject, _CACHE_SECONDS)
        _outage_copies.set(key, subject)
    return subject


def member_inputs(*, organization: Organization, membership: Membership) -> tuple[Subject, list[_PolicyRule]]:
    """A member's subject and the org's policies: one cache round trip when both are cached."""
    subject_key, policies_key = _subject_key(organization, membership.user_id), _policies_key(organization)
    found = cache.get_many([subject_key, policies_key])
    policies = found.get(policies_key)
    if policies is None:
        policies = _outage_copies.get(policies_key)
    if policies is None:
        policies = organization_policies(organization, fresh=True)
    subject = found.get(subject_key)
    if subject is None:
        subject = _outage_copies.get(subject_key)
    if subject is None:
        # fresh: get_many just missed it; the policies are the ones in hand.
        subject = member_subject(organization=organization, membership=membership, fresh=True, policies=policies)
    return subject, policies


def role_permissions(*, organization: Organization, slug: str) -> frozenset[str]:
    """Permissions a role slug carries in this org (built-in from code, custom from its row)."""
    if BuiltinRole.is_builtin(slug):
        return builtin_permissions(slug)
    row = Role.objects.filter(organization=organization, slug=slug).values_list("permissions", flat=True).first()
    return frozenset(row or []) & catalog.codes()


@dataclass(frozen=True)
class Stakes:
    """What holding a role or being on a team changes: what it can grant, and what its deny policies cover."""

    grants: frozenset[str] = frozenset()
    denies: frozenset[str] = frozenset()


def _covered(rule: _PolicyRule) -> frozenset[str]:
    return catalog.codes() if "*" in rule.permissions else rule.permissions & catalog.codes()


def _policy_stakes(rules, named) -> Stakes:
    """Permissions the allow and the deny policies among `rules` that `named(rule)` picks cover (conditions aside)."""
    grants: set[str] = set()
    denies: set[str] = set()
    for rule in rules:
        if named(rule):
            (denies if rule.effect == Policy.Effect.DENY else grants).update(_covered(rule))
    return Stakes(grants=frozenset(grants), denies=frozenset(denies))


def role_stakes(*, organization: Organization, slug: str) -> Stakes:
    """What taking a role changes: its grants plus what allow policies naming it add; what deny policies naming it cover."""
    # Allow policies whose subject is a role hand their permissions to whoever gets the role:
    # giving the role is giving them too.
    stakes = _policy_stakes(organization_policies(organization), lambda rule: slug in rule.roles)
    return Stakes(grants=stakes.grants | role_permissions(organization=organization, slug=slug), denies=stakes.denies)


def newcomer_grants(*, organization: Organization, slug: str, user_id=None) -> frozenset[str]:
    """What someone joining with role `slug` would hold: the role's stakes, plus allow policies naming them or everyone.

    `user_id`: an existing account (a former member may still be named by a policy).
    """
    named = str(user_id) if user_id is not None else None
    stakes = _policy_stakes(organization_policies(organization), lambda rule: not rule.has_subjects or (named is not None and named in rule.users))
    return role_stakes(organization=organization, slug=slug).grants | stakes.grants


def team_stakes(*, organization: Organization, team_ids) -> Stakes:
    """What joining (or leaving) these teams changes: what their allow policies grant, what their deny policies cover."""
    wanted = {str(team_id) for team_id in team_ids}
    return _policy_stakes(organization_policies(organization), lambda rule: bool(rule.teams & wanted))


def api_key_creator(*, api_key) -> Membership | None:
    """The membership a key acts for: its creator's active one in the key's org, else None."""
    if api_key.created_by_id is None:
        # A key made by nobody (a legacy row, or its creator's account deleted) acts for nobody.
        return None
    membership = membership_of(api_key.created_by, api_key.organization_id)  # cached: one round trip
    if membership is None or membership.status != Membership.Status.ACTIVE:
        return None
    return membership


def api_key_subject(*, api_key) -> Subject:
    """A key acts as its creator now, within its scopes: creator's role grants ∩ scopes, the creator's policies apply.

    A key whose creator left the org, is suspended or is unknown acts as nobody (no permission).
    """
    if api_key.created_by_id is None:
        return Subject(user_id=None, scopes=frozenset(), is_api_key=True)
    organization = api_key.organization
    # Remembered on the key object for the request (views ask several times); the revision keys it
    # so that a re-read revision (selectors' at_least_revision) is answered fresh.
    remembered = api_key.__dict__.get("_authz_subject")
    if remembered is not None and remembered[0] == (organization.authz_revision, catalog.version()):
        return remembered[1]
    creator = api_key_creator(api_key=api_key)
    if creator is None:
        subject = Subject(user_id=None, scopes=frozenset(), is_api_key=True)
    else:
        acting_for = member_subject(organization=organization, membership=creator)
        scopes = frozenset(api_key.scopes) & catalog.codes()
        subject = Subject(
            user_id=acting_for.user_id,
            roles=acting_for.roles,
            teams=acting_for.teams,
            permissions=acting_for.permissions & scopes,
            is_api_key=True,
            scopes=scopes,
        )
    api_key.__dict__["_authz_subject"] = ((organization.authz_revision, catalog.version()), subject)
    return subject


# --- conditions ---------------------------------------------------------------------------


def _in_time_window(now: datetime, window: dict) -> bool:
    try:
        zone = ZoneInfo(window.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        start = time.fromisoformat(window.get("start", "00:00"))
        end = time.fromisoformat(window.get("end", "23:59:59"))
    except (TypeError, ValueError):
        return False  # a malformed window is never met: fail closed
    local = now.astimezone(zone)
    current = local.time()
    day = local.weekday()
    if start <= end:
        inside = start <= current <= end
    elif current >= start:
        inside = True  # evening part of a window across midnight
    elif current <= end:
        # Morning part of a window across midnight: it belongs to the day the window started.
        inside, day = True, (day - 1) % 7
    else:
        inside = False
    days = window.get("days")
    return inside and (days is None or day in days)


def has_conditions(conditions: dict) -> bool:
    """Tell whether any condition actually requires something (`{"mfa_required": false}` does not)."""
    return any(value for value in (conditions or {}).values())


def unmet_condition(conditions: dict, facts: Facts) -> str | None:
    """Name the first requirement the request does not meet, or None when all hold."""
    if conditions.get("mfa_required") and not facts.mfa:
        return "mfa_required"
    if conditions.get("ip_ranges") and not ip_in_cidrs(facts.ip, conditions["ip_ranges"]):
        return "ip_ranges"
    if conditions.get("time_window") and not _in_time_window(facts.now or clock.now(), conditions["time_window"]):
        return "time_window"
    for key, value in conditions.items():
        # A condition this engine does not know is never met: fail closed for allow and deny alike.
        if value and key not in _CONDITIONS:
            return key
    return None


# --- the decision ---------------------------------------------------------------------------


def decide(*, subject: Subject, policies: list[_PolicyRule], permission: str, facts: Facts) -> Decision:
    """Roles grant, allow policies add, deny policies win over both."""
    if permission == MEMBERSHIP:
        if subject.is_api_key:
            return Decision(False, "this action needs a member, not an API key")
        return Decision(True, "member of the organization")
    if not catalog.is_declared(permission):
        return Decision(False, f"unknown permission {permission}")
    if subject.scopes is not None and permission not in subject.scopes:
        # A key never acts beyond its scopes, not even where an allow policy covers its creator.
        return Decision(False, f"missing permission {permission} (not in the API key's scopes)")
    applicable = [rule for rule in policies if rule.covers(permission) and rule.applies_to(subject)]
    # The owner, in person, is never locked out of roles and policies by a policy (API.md v1.1
    # invariant 2): otherwise a deny naming them would be theirs to keep forever.
    owner_on_policies = permission == ROLES_MANAGE and BuiltinRole.OWNER in subject.roles and not subject.is_api_key
    for rule in applicable:
        if rule.effect != Policy.Effect.DENY or owner_on_policies:
            continue
        # A deny without any real condition always refuses.
        unmet = unmet_condition(rule.conditions, facts) if has_conditions(rule.conditions) else "always"
        if unmet:
            code = ErrorCode.MFA_REQUIRED if unmet == "mfa_required" else ErrorCode.INSUFFICIENT_PERMISSIONS
            return Decision(False, f"denied by policy '{rule.name}' ({unmet})", code)
    if permission in subject.permissions:
        return Decision(True, "granted by role" if not subject.is_api_key else "granted by API key scope")
    for rule in applicable:
        if rule.effect == Policy.Effect.ALLOW and unmet_condition(rule.conditions, facts) is None:
            return Decision(True, f"allowed by policy '{rule.name}'")
    return Decision(False, f"missing permission {permission}")


def effective_permissions(*, subject: Subject, policies: list[_PolicyRule], facts: Facts) -> list[str]:
    """Every catalog permission the subject holds right now."""
    return sorted(code for code in catalog.codes() if decide(subject=subject, policies=policies, permission=code, facts=facts).allowed)
