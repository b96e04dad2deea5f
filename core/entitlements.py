"""Plan entitlements as seen by lower apps: a hook the billing app fills.

With billing absent every limit is unlimited and every feature on, so apps run and test alone.
"""

from dataclasses import dataclass

from core import hooks
from core.errors import ErrorCode
from core.exceptions import ApplicationError


@hooks.hook
def entitlement_limit(*, organization, name: str) -> int | None:
    """The plan's limit for `name`; None = unlimited (billing absent)."""
    return None


@hooks.hook
def entitlement_feature(*, organization, name: str) -> bool:
    """Whether the plan includes feature `name`; every feature is on with billing absent."""
    return True


@hooks.hook
def usage_consume(*, organization, name: str, quantity: int) -> None:
    """Meter `quantity` of `name` against this month's allowance (402 PLAN_LIMIT_REACHED when used up)."""
    return None


@hooks.hook
def usage_release(*, organization, name: str, quantity: int) -> None:
    """Give back `quantity` of `name` consumed this month."""
    return None


@hooks.hook
def usage_used(*, organization, name: str) -> int | None:
    """This month's count of metered `name`; None when nothing meters it."""
    return None


@dataclass(frozen=True)
class LimitCheck:
    allowed: bool
    used: int
    limit: int | None


def limit_of(organization, name: str) -> int | None:
    """The plan's limit for `name` (None when unlimited)."""
    return entitlement_limit(organization=organization, name=name)


def check(organization, name: str, *, used: int, adding: int = 1) -> LimitCheck:
    """Tell whether `adding` more of `name` fits under the plan's limit."""
    limit = limit_of(organization, name)
    return LimitCheck(allowed=limit is None or used + adding <= limit, used=used, limit=limit)


def require(organization, name: str, *, used: int, adding: int = 1) -> None:
    """Raise 402 PLAN_LIMIT_REACHED when `adding` more of `name` would exceed the plan."""
    result = check(organization, name, used=used, adding=adding)
    if not result.allowed:
        raise ApplicationError(
            code=ErrorCode.PLAN_LIMIT_REACHED,
            message=f"Your plan allows {result.limit} {name.removeprefix('max_').replace('_', ' ')}.",
            status_code=402,
            details={"limit": result.limit, "used": result.used, "entitlement": name},
        )


def has_feature(organization, name: str) -> bool:
    """Whether the plan includes a feature flag."""
    return bool(entitlement_feature(organization=organization, name=name))


def require_feature(organization, name: str) -> None:
    """Raise 402 PLAN_UPGRADE_REQUIRED when the plan lacks a feature."""
    if not has_feature(organization, name):
        raise ApplicationError(
            code=ErrorCode.PLAN_UPGRADE_REQUIRED,
            message=f"Your plan does not include {name.replace('_', ' ')}.",
            status_code=402,
            details={"feature": name},
        )


# Metered use: counted per calendar month by billing; `name` is a usage key such as "ai_requests".


def consume(organization, name: str, *, quantity: int = 1) -> None:
    """Count `quantity` of metered `name` against this month's allowance (402 when used up; no-op without billing)."""
    usage_consume(organization=organization, name=name, quantity=quantity)


def release(organization, name: str, *, quantity: int = 1) -> None:
    """Give back `quantity` of metered `name` consumed this month (e.g. a call that delivered nothing)."""
    usage_release(organization=organization, name=name, quantity=quantity)


def used(organization, name: str) -> int | None:
    """This month's count of metered `name`, or None when no app meters it (billing absent)."""
    return usage_used(organization=organization, name=name)
