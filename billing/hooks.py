"""The billing app's answers to the hooks lower apps call: limits, feature flags, token claims.

Other apps report usage billing cannot count itself by providing `core.hooks.usage_counts`:
`(organization) -> {"integrations": n}` (the integrations app) or `{"storage_mb": n}`
(documents); every provider's counts are added up.
"""

from django.core.cache import cache

from billing import selectors
from core import entitlements, hooks

# Seconds the plan claims of an org stay cached. A subscription change clears them at once;
# an edit of a plan's feature flags reaches new tokens within this time.
PLAN_CLAIMS_SECONDS = 60


def entitlement_limit(*, organization, name: str) -> int | None:
    return selectors.limit_of(organization=organization, name=name)


def entitlement_feature(*, organization, name: str) -> bool:
    return selectors.feature_of(organization=organization, name=name)


def _plan_claims_key(organization_id) -> str:
    return f"billing:plan-claims:{organization_id}"


def plan_claims(*, organization) -> dict:
    """{"plan": code, "features": {flag: bool}} (add-ons' flags included) for the access token, cached per org."""
    # Every sign-in and token refresh asks: cached, it costs one cache read instead of two queries
    # (subscription, then the free plan); bench/profile_path.py refresh shows the difference.
    # The claims only inform the client (entitlements are checked fresh where they are enforced).
    key = _plan_claims_key(organization.pk)
    claims = cache.get(key)
    if claims is None:
        entitled = selectors.entitlements_of(organization=organization)
        claims = {"plan": entitled.plan.code, "features": entitled.features}
        cache.set(key, claims, PLAN_CLAIMS_SECONDS)
    return claims


def plan_claims_forget(sender, instance, **kwargs) -> None:
    """Drop an org's cached plan claims when its subscription or add-on rows change (post_save/post_delete)."""
    from django.db import transaction

    key = _plan_claims_key(instance.organization_id)
    cache.delete(key)
    # Again after commit: a refresh running meanwhile may have cached the old plan from the old row.
    transaction.on_commit(lambda: cache.delete(key))


def membership_changed(*, organization) -> None:
    """Per-seat plans follow the member count: re-sync after the change commits."""
    from billing import tasks
    from core.tasks import enqueue

    organization_id = str(organization.id)
    enqueue(tasks.sync_seats, organization_id)


def usage_consume(*, organization, name: str, quantity: int) -> None:
    """Meter `name` (a catalog.Metric) against this month's allowance; 402 when used up."""
    from billing.services import usage

    usage.usage_consume(organization=organization, metric=name, quantity=quantity)


def usage_release(*, organization, name: str, quantity: int) -> None:
    from billing.services import usage

    usage.usage_release(organization=organization, metric=name, quantity=quantity)


def usage_used(*, organization, name: str) -> int:
    return selectors.usage_count(organization=organization, metric=name)


def register() -> None:
    entitlements.usage_consume.provide(usage_consume)
    entitlements.usage_release.provide(usage_release)
    entitlements.usage_used.provide(usage_used)
    hooks.membership_changed.provide(membership_changed)
    entitlements.entitlement_limit.provide(entitlement_limit)
    entitlements.entitlement_feature.provide(entitlement_feature)
    hooks.plan_claims.provide(plan_claims)
