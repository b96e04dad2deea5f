"""Metered usage: monthly counters per org and metric, and the plan's allowance on them."""

from django.db import IntegrityError, transaction
from django.db.models import F

from billing import catalog, selectors
from billing.models import UsageCounter
from billing.services.customers import account_for_update
from core.errors import ErrorCode
from core.exceptions import ApplicationError


def usage_record(*, organization, metric: str, quantity: int = 1) -> int:
    """Add `quantity` to the org's counter of `metric` for this month; return the new total."""
    # Not audited: metering is high-volume and the counter itself is the record.
    if metric not in catalog.Metric.__members__.values():
        raise ValueError(f"unknown metric {metric!r}")
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    period = selectors.month_start()
    with transaction.atomic():
        # One UPDATE: concurrent recorders add up instead of overwriting each other.
        updated = UsageCounter.objects.filter(organization=organization, metric=metric, period=period).update(count=F("count") + quantity)
        if not updated:
            try:
                with transaction.atomic():
                    UsageCounter.objects.create(organization=organization, metric=metric, period=period, count=quantity)
            except IntegrityError:
                UsageCounter.objects.filter(organization=organization, metric=metric, period=period).update(count=F("count") + quantity)
    return selectors.usage_count(organization=organization, metric=metric, period=period)


def limit_error(key: str, *, used: int, limit: int | None) -> ApplicationError:
    """The 402 a metered call gets when the plan's allowance is used up."""
    return ApplicationError(
        code=ErrorCode.PLAN_LIMIT_REACHED,
        message=f"Your plan allows {limit} {key.replace('_', ' ')} per month.",
        status_code=402,
        details={"limit": limit, "used": used, "entitlement": catalog.USAGE_LIMITS[key]},
    )


def usage_consume(*, organization, metric: str, quantity: int = 1) -> int:
    """Record metered use if the plan's monthly allowance has room, else raise 402 PLAN_LIMIT_REACHED."""
    key = str(metric)
    limit = selectors.limit_of(organization=organization, name=catalog.USAGE_LIMITS[key])
    with transaction.atomic():
        if limit is not None:
            # Lock the org's row so two requests cannot both take the last unit.
            account_for_update(organization=organization)
            used = selectors.usage_count(organization=organization, metric=metric)
            if used + quantity > limit:
                raise limit_error(key, used=used, limit=limit)
        return usage_record(organization=organization, metric=metric, quantity=quantity)


def usage_release(*, organization, metric: str, quantity: int = 1) -> int:
    """Give back metered use counted this month (a call that delivered nothing); never below zero."""
    if metric not in catalog.Metric.__members__.values():
        raise ValueError(f"unknown metric {metric!r}")
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    period = selectors.month_start()
    # One conditional UPDATE: concurrent releases cannot take the counter below zero.
    UsageCounter.objects.filter(organization=organization, metric=metric, period=period, count__gte=quantity).update(count=F("count") - quantity)
    return selectors.usage_count(organization=organization, metric=metric, period=period)
