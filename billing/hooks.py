"""The billing app's answers to the hooks lower apps call: limits, feature flags, token claims.

Other apps report usage billing cannot count itself by registering `catalog.USAGE_COUNTS`
("usage_counts"): `(organization) -> {"integrations": n}` (the integrations app) or
`{"storage_mb": n}` (documents); every provider's counts are added up.
"""
from billing import selectors
from core import entitlements, hooks


def entitlement_limit(*, organization, name: str) -> int | None:
    return selectors.limit_of(organization=organization, name=name)


def entitlement_feature(*, organization, name: str) -> bool:
    return selectors.feature_of(organization=organization, name=name)


def plan_claims(*, organization) -> dict:
    """{"plan": code, "features": {flag: bool}} for the access token."""
    plan = selectors.plan_of(organization=organization)
    return {"plan": plan.code, "features": plan.features}


def membership_changed(*, organization) -> None:
    """Per-seat plans follow the member count: re-sync after the change commits."""
    from django.db import transaction

    from billing import tasks

    organization_id = str(organization.id)
    transaction.on_commit(lambda: tasks.sync_seats.delay(organization_id))


def register() -> None:
    hooks.register(hooks.MEMBERSHIP_CHANGED, membership_changed)
    hooks.register(entitlements.ENTITLEMENT_LIMIT, entitlement_limit)
    hooks.register(entitlements.ENTITLEMENT_FEATURE, entitlement_feature)
    hooks.register(hooks.PLAN_CLAIMS, plan_claims)
