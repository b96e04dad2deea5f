"""DRF glue: every org-scoped view declares the permission each action needs; one class enforces it."""

from collections.abc import Iterable
from dataclasses import replace

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from core import clock
from core.actor import Principal, principal_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from core.http import client_ip
from core.roles import Role
from organizations.context import OrgContext, org_context, resolve
from organizations.models import Membership
from permissions import catalog, engine
from permissions.models import Policy
from permissions.permissions import ROLES_MANAGE


def request_facts(request) -> engine.Facts:
    """Policy-relevant facts of the request: MFA of the session, client IP, time."""
    return engine.Facts(mfa=principal_of(request).mfa, ip=client_ip(request), now=clock.now())


def subject_of(context: OrgContext, *, fresh: bool = False) -> engine.Subject:
    """The subject (member or API key) behind an org context."""
    if context.api_key is not None:
        return engine.api_key_subject(api_key=context.api_key)
    return engine.member_subject(organization=context.organization, membership=context.membership, fresh=fresh)


def decision_inputs(context: OrgContext) -> tuple[engine.Subject, list]:
    """The subject behind an org context and its org's policies (cached; one round trip for a member)."""
    if context.api_key is not None:
        return engine.api_key_subject(api_key=context.api_key), engine.organization_policies(context.organization)
    return engine.member_inputs(organization=context.organization, membership=context.membership)


def request_decision_inputs(request, context: OrgContext) -> tuple[engine.Subject, list]:
    """`decision_inputs(context)`, read once per request: the permission check's read serves the view too.

    A check-many request judged its caller at the door, then read the same subject and policies
    again to answer: two cache round trips for values it held (issue 17).
    """
    held = getattr(request, "_decision_inputs", None)
    if held is not None and held[0] is context:
        return held[1]
    inputs = decision_inputs(context)
    request._decision_inputs = (context, inputs)
    return inputs


def authorize(request, context: OrgContext, permission: str) -> engine.Decision:
    """Decide whether this request may use `permission` in its org (the function every view uses)."""
    subject, policies = request_decision_inputs(request, context)
    return engine.decide(subject=subject, policies=policies, permission=permission, facts=request_facts(request))


def _require_holding(request, context: OrgContext, permissions, message: str) -> None:
    """Refuse unless the caller holds each permission effectively, with this request's facts."""
    subject, policies = decision_inputs(context)
    facts = request_facts(request)
    missing = sorted(
        permission for permission in set(permissions) if not engine.decide(subject=subject, policies=policies, permission=permission, facts=facts).allowed
    )
    if missing:
        raise PermissionDeniedWithCode(engine.Decision(False, f"{message}: {', '.join(missing)}"))


def require_grantable(request, context: OrgContext, permissions: frozenset[str] | set[str]) -> None:
    """Refuse to hand out permissions the caller could not use right now themselves (no escalation)."""
    # Effective permissions, not just role ones: a deny policy on the caller (MFA, IP range,
    # time window) also stops them handing that permission to someone else or lifting it.
    _require_holding(request, context, permissions, "You cannot grant permissions you do not hold")


def held_now(request, context: OrgContext) -> frozenset[str]:
    """Every permission the caller holds effectively right now (role, policies and this request's facts)."""
    subject, policies = decision_inputs(context)
    return frozenset(engine.effective_permissions(subject=subject, policies=policies, facts=request_facts(request)))


def member_holdings(*, organization, membership: Membership) -> frozenset[str]:
    """Every permission a member can hold in the org: role grants plus what allow policies naming them add, conditions aside."""
    subject, policies = engine.member_inputs(organization=organization, membership=membership)
    added = set()
    for rule in policies:
        if rule.effect == "allow" and rule.applies_to(subject):
            added |= catalog.codes() if "*" in rule.permissions else set(rule.permissions)
    return frozenset(subject.permissions | (added & catalog.codes()))


def require_not_better(request, context: OrgContext, *, target: Membership) -> None:
    """Refuse to act on a member (demote, suspend, remove, deny, retire their keys) who holds what the caller does not.

    The caller must hold *effectively* (with this request's facts) every permission the target
    can hold; acting on oneself is always allowed.
    """
    require_not_better_than(request, context, targets=[target])


def require_not_better_than(request, context: OrgContext, *, targets: Iterable[Membership]) -> None:
    """Refuse to act on members unless the caller effectively holds every permission any of them can hold (oneself excluded)."""
    caller_id = context.membership.user_id if context.membership is not None else None
    everything = catalog.codes()
    beyond: set[str] = set()
    # The owner first: they can hold everything, so one look settles a long list (a deny on everyone).
    for target in sorted(targets, key=lambda membership: membership.role != Role.OWNER):
        if target.user_id == caller_id:
            continue
        beyond |= member_holdings(organization=context.organization, membership=target)
        if beyond >= everything:
            break
    _require_holding(request, context, beyond, "A member you act on holds permissions you do not")


def require_role_grantable(request, context: OrgContext, *, slug: str) -> None:
    """Refuse to give a role (member role change, invitation) unless the caller holds all it brings, policies naming it included."""
    require_grantable(request, context, engine.role_stakes(organization=context.organization, slug=slug).grants)


def require_team_join(request, context: OrgContext, *, team_ids, target: Membership | None = None) -> None:
    """Refuse to put someone on teams unless the caller holds what the teams' allow policies grant."""
    stakes = engine.team_stakes(organization=context.organization, team_ids=team_ids)
    # Teams are policy subjects: joining one hands out its allow policies' permissions.
    require_grantable(request, context, stakes.grants)
    if stakes.denies and target is not None:
        # Putting a member under a team's deny is naming them in a deny policy: not on a better.
        require_not_better(request, context, target=target)


def require_team_leave(request, context: OrgContext, *, team_id, targets: Iterable[Membership]) -> None:
    """Refuse to take members off a team unless the caller holds what its allows grant and its denies cover, and is not worse than them."""
    stakes = engine.team_stakes(organization=context.organization, team_ids=[team_id])
    if not (stakes.grants or stakes.denies):
        return  # no policy names the team: leaving it changes nobody's permissions
    # Leaving lifts the team's denies (like deleting them) and drops its allows (taking away).
    require_grantable(request, context, stakes.grants | stakes.denies)
    require_not_better_than(request, context, targets=targets)


def _owner_in_person(context: OrgContext) -> bool:
    return context.api_key is None and context.membership is not None and context.membership.role == Role.OWNER


def require_policy_edit(request, context: OrgContext, *, permissions=(), targets: Iterable[Membership] = ()) -> None:
    """Refuse to change or delete a policy about permissions the caller does not hold, or aimed at betters; the owner always may.

    The owner passes whatever the policy says (never locked out, API.md v1.1 invariant 2), after
    MFA when a deny policy on them covering what is touched (or roles:manage) requires it.
    """
    if not _owner_in_person(context):
        require_grantable(request, context, permissions)
        require_not_better_than(request, context, targets=targets)
        return
    facts = request_facts(request)
    if facts.mfa:
        return
    subject, policies = decision_inputs(context)
    touched = set(permissions) | {ROLES_MANAGE}
    for rule in policies:
        # Only MFA is asked of the owner: an IP range or time window could shut them out for good,
        # MFA they can always pass.
        if (
            rule.effect == Policy.Effect.DENY
            and rule.conditions.get("mfa_required")
            and rule.applies_to(subject)
            and any(rule.covers(permission) for permission in touched)
        ):
            raise PermissionDeniedWithCode(engine.Decision(False, f"Policy '{rule.name}' requires MFA for this change.", ErrorCode.MFA_REQUIRED))


def authorize_member(request, *, organization_id, user_id, permission: str, mfa: bool, sso: bool = False, caller=None):
    """Check a member's permission where the org and user come from a signed token, not the request's auth.

    Used by flows a third party completes (an OAuth callback): the membership must still be
    active and the permission still granted. Returns the membership.
    """
    if caller is not None and str(caller.pk) != str(user_id):
        raise ApplicationError(code=ErrorCode.INVALID_ORG_CONTEXT, message="This flow was started by another user.", status_code=403)
    gone = ApplicationError(code=ErrorCode.INVALID_ORG_CONTEXT, message="You are no longer an active member of that organization.", status_code=403)
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise gone
    try:
        # The one org resolver (as HTTP and the WebSocket), with the MFA and SSO the signed token recorded.
        principal = Principal.for_user(user, mfa=mfa, sso=sso)
        membership = org_context(principal=principal, organization_id=organization_id).membership
    except ApplicationError as exc:
        if exc.code in (ErrorCode.MFA_REQUIRED, ErrorCode.SSO_REQUIRED):
            raise
        raise gone from None
    membership.user = user
    decision = engine.decide(
        subject=engine.member_subject(organization=membership.organization, membership=membership),
        policies=engine.organization_policies(membership.organization),
        permission=permission,
        # MFA as the signed token recorded it: the request completing the flow carries no session.
        facts=replace(request_facts(request), mfa=mfa),
    )
    if not decision.allowed:
        raise PermissionDeniedWithCode(decision)
    return membership


class PermissionDeniedWithCode(exceptions.PermissionDenied):
    def __init__(self, decision: engine.Decision):
        super().__init__(detail=exceptions.ErrorDetail(decision.reason, code=str(decision.code)))


class HasOrgPermission(BasePermission):
    """Resolve the org context, then require the view's declared permission for this action."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            # Who is asking comes before which org: anonymous callers get 401, never an org error.
            raise exceptions.NotAuthenticated()
        permission = view.required_permission()
        context = resolve(request, path_org_id=view.kwargs.get("org_id"))
        decision = authorize(request, context, permission)
        if not decision.allowed:
            raise PermissionDeniedWithCode(decision)
        return True


class OrgScopedMixin:
    """Base of every org-scoped view: declares `required_permissions` and exposes `self.org_context`.

    `required_permissions` maps a ViewSet action (or an HTTP method for plain views) to a
    permission code. An action without a declaration is refused (fail closed).
    `org_scoped` tells the schema (core.schema.OrgAutoSchema) to document X-Org-ID on routes
    without `{org_id}` in the path. `HasOrgPermission` answers 401 to anonymous callers itself:
    no `IsAuthenticated` goes next to it.
    """

    org_scoped = True
    required_permissions: dict[str, str] = {}
    permission_classes = [HasOrgPermission]

    def required_permission(self) -> str:
        method = self.request.method
        if method == "OPTIONS":
            return engine.MEMBERSHIP
        if method == "HEAD":
            method = "GET"
        if getattr(self, "action", None) is None and not hasattr(self, method.lower()):
            raise exceptions.MethodNotAllowed(self.request.method)
        key = getattr(self, "action", None) or method
        permission = self.required_permissions.get(key) or self.required_permissions.get(method)
        if permission is None:
            raise ImproperlyConfigured(f"{type(self).__name__} declares no permission for {key!r}")
        return permission

    @property
    def org_context(self) -> OrgContext:
        return resolve(self.request, path_org_id=self.kwargs.get("org_id"))

    @property
    def organization(self):
        return self.org_context.organization

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "org_id" in getattr(self, "kwargs", {}) and not getattr(self, "swagger_fake_view", False):
            context["organization"] = self.organization
        return context
