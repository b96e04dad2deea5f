"""DRF glue: every org-scoped view declares the permission each action needs; one class enforces it."""
from dataclasses import replace

from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from core import clock
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from core.http import client_ip
from organizations.context import OrgContext, resolve
from organizations.models import Membership
from permissions import engine


def request_facts(request) -> engine.Facts:
    """Policy-relevant facts of the request: MFA of the session, client IP, time."""
    claims = getattr(request, "auth", None)
    mfa = bool(claims.get("mfa")) if hasattr(claims, "get") else False
    return engine.Facts(mfa=mfa, ip=client_ip(request), now=clock.now())


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


def authorize(request, context: OrgContext, permission: str) -> engine.Decision:
    """Decide whether this request may use `permission` in its org (the function every view uses)."""
    subject, policies = decision_inputs(context)
    return engine.decide(subject=subject, policies=policies, permission=permission, facts=request_facts(request))


def require_grantable(request, context: OrgContext, permissions: frozenset[str] | set[str]) -> None:
    """Refuse to hand out permissions the caller could not use right now themselves (no escalation)."""
    subject, policies = decision_inputs(context)
    facts = request_facts(request)
    # Effective permissions, not just role ones: a deny policy on the caller (MFA, IP range,
    # time window) also stops them handing that permission to someone else or lifting it.
    missing = sorted(
        permission
        for permission in set(permissions)
        if not engine.decide(subject=subject, policies=policies, permission=permission, facts=facts).allowed
    )
    if missing:
        raise PermissionDeniedWithCode(
            engine.Decision(False, f"You cannot grant permissions you do not hold: {', '.join(missing)}")
        )


def authorize_member(request, *, organization_id, user_id, permission: str, mfa: bool, caller=None):
    """Check a member's permission where the org and user come from a signed token, not the request's auth.

    Used by flows a third party completes (an OAuth callback): the membership must still be
    active and the permission still granted. Returns the membership.
    """
    if caller is not None and str(caller.pk) != str(user_id):
        raise ApplicationError(code=ErrorCode.INVALID_ORG_CONTEXT, message="This flow was started by another user.", status_code=403)
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(organization_id=organization_id, user_id=user_id, status=Membership.Status.ACTIVE)
        .first()
    )
    if membership is None:
        raise ApplicationError(
            code=ErrorCode.INVALID_ORG_CONTEXT, message="You are no longer an active member of that organization.", status_code=403
        )
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
    """

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
