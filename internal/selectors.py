"""Reads of the internal API: token introspection, users, orgs, members, permission checks, plans, limits."""

from django.http import Http404
from rest_framework import exceptions

from accounts.authentication import JWTAuthentication
from accounts.models import User
from billing import catalog
from billing import selectors as billing_selectors
from core import clock, entitlements, hooks
from core.actor import Principal
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from organizations import selectors as organization_selectors
from organizations.context import OrgContext, org_context
from organizations.models import Membership, Organization
from permissions import engine
from permissions import selectors as permission_selectors

INACTIVE = {"active": False}
# Usage keys a service may report (billing's monthly metered counters).
METERED_FEATURES = tuple(metric.value for metric in catalog.Metric)


def token_introspect(*, token: str) -> dict:
    """RFC 7662-style answer for an access token: its claims when it is valid right now, else `{active: false}`."""
    authentication = JWTAuthentication()
    try:
        # The same checks as a bearer request: signature, expiry, type, live session (sid), active user.
        validated = authentication.get_validated_token(token.encode())
        user = authentication.get_user(validated)
    except exceptions.APIException:
        return INACTIVE
    answer = {
        "active": True,
        "sub": str(user.pk),
        "email": user.email,
        "org_id": validated.get("org_id"),
        "sid": validated.get("sid"),
        "exp": validated.get("exp"),
        "mfa": bool(validated.get("mfa")),
    }
    principal = Principal.from_claims(user, validated.payload)
    answer["amr"] = ["sso"] if principal.sso else []
    if principal.organization_id and not principal.is_impersonation:
        try:
            # The token's org as a request would resolve it: a session the org admits only through
            # its IdP is not vouched for to a product service either.
            org_context(principal=principal, organization_id=principal.organization_id)
        except ApplicationError as exc:
            if exc.code == ErrorCode.SSO_REQUIRED:
                return INACTIVE
    if principal.is_impersonation:
        # RFC 8693's actor claim: a staff member acts as `sub`; a service must not take it for the user.
        answer["act"] = {"sub": principal.impersonator_id}
    return answer


def user_get(*, user_id) -> User:
    """An active user by id (404 otherwise)."""
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        raise Http404("No such user.")
    return user


def organization_get(*, organization_id) -> Organization:
    """An organization by id (404 ORG_NOT_FOUND otherwise)."""
    organization = Organization.objects.filter(id=organization_id).first()
    if organization is None:
        raise ApplicationError(code=ErrorCode.ORG_NOT_FOUND, message="Organization not found.", status_code=404)
    return organization


def organization_summary(*, organization: Organization) -> dict:
    """`{id, name, slug, plan, features}`: the org with its plan code and feature flags (add-ons included)."""
    claims = hooks.plan_claims(organization=organization)
    return {"id": organization.id, "name": organization.name, "slug": organization.slug, "plan": claims["plan"], "features": claims["features"]}


def member_get(*, organization: Organization, user_id) -> Membership:
    """A member of the org by user id, whatever their status (404 otherwise)."""
    return organization_selectors.member_get(organization=organization, user_id=user_id)


def permission_evaluation(*, organization: Organization, user_id, at_least_revision: int | None = None) -> permission_selectors.Evaluation:
    """Inputs of a decision for a member as the public check endpoints make them for another member (404 for a non-member).

    The service is not the member's browser: MFA counts as not met and there is no client IP, so
    a policy condition on either is not met (fail closed for allows, as for denies).
    """
    context = OrgContext(organization=organization, membership=None)
    facts = engine.Facts(mfa=False, ip=None, now=clock.now())
    return permission_selectors.evaluation_prepare(context=context, facts=facts, user_id=user_id, at_least_revision=at_least_revision)


def permission_check(*, organization: Organization, user_id, permission: str) -> dict:
    """`{allowed, reason}` for one permission of a member."""
    decision = permission_selectors.decision(evaluation=permission_evaluation(organization=organization, user_id=user_id), permission=permission)
    return {"allowed": decision.allowed, "reason": decision.reason}


def permission_check_many(*, organization: Organization, user_id, permissions: list[str], at_least_revision: int | None = None) -> dict:
    """`{results: {permission: allowed}, revision}` for a member."""
    evaluation = permission_evaluation(organization=organization, user_id=user_id, at_least_revision=at_least_revision)
    return {"results": permission_selectors.decisions(evaluation=evaluation, permissions=permissions), "revision": evaluation.revision}


def limit_check(*, organization: Organization, feature: str) -> dict:
    """`{allowed, used, limit}`: whether one more of a usage key fits the org's plan (as `billing/usage/check-limit`)."""
    return billing_selectors.usage_check(organization=organization, key=feature)


def usage_state(*, organization: Organization, feature: str) -> dict:
    """`{used, limit}` of a metered usage key this month."""
    return {
        "used": entitlements.used(organization, feature) or 0,
        "limit": entitlements.limit_of(organization, catalog.USAGE_LIMITS[feature]),
    }


def plan_features(*, code: str) -> dict:
    """`{code, limits, features}` of a public plan (404 otherwise)."""
    plan = billing_selectors.plan_get(code=code)
    return {"code": plan.code, "limits": plan.limits, "features": plan.features}
