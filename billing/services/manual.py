"""The manual provider: orgs billed outside Stripe, on a plan for a number of months."""

import calendar
from datetime import datetime

from django.db import transaction

from billing.models import Plan, Subscription
from billing.services.customers import account_for_update
from billing.services.plans import plan_free_ensure
from billing.services.state import subscription_change_record, subscription_snapshot
from core import clock
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from organizations.models import Organization

MAX_MANUAL_MONTHS = 36


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@transaction.atomic
def subscription_activate_manual(*, organization_id, plan_code: str, months: int, actor: Actor) -> Subscription:
    """Put an org billed outside Stripe on a plan for `months` (extending a running term of the same plan)."""
    organization = Organization.objects.filter(id=organization_id).first()
    if organization is None:
        raise ApplicationError(code=ErrorCode.ORG_NOT_FOUND, message="Organization not found.", status_code=404)
    plan = Plan.objects.filter(code=plan_code).first()
    if plan is None:
        raise validation_error("plan", "Unknown plan.")
    if plan.is_free:
        raise validation_error("plan", "The free plan needs no subscription.")
    if not 1 <= months <= MAX_MANUAL_MONTHS:
        raise validation_error("months", f"Must be between 1 and {MAX_MANUAL_MONTHS}.")
    account = account_for_update(organization=organization)
    if account.provider == Subscription.Provider.STRIPE and account.is_entitled():
        # Two providers at once would bill the org twice.
        raise conflict("The organization has an active Stripe subscription: cancel it first.")
    now = clock.now()
    running = account.provider == Subscription.Provider.MANUAL and account.is_entitled(now) and account.plan_id == plan.id
    start = account.active_until if running else now
    old = subscription_snapshot(account)
    account.provider = Subscription.Provider.MANUAL
    account.plan = plan
    account.status = Subscription.Status.ACTIVE
    account.interval = ""
    account.active_until = _add_months(start, months)
    account.current_period_end = account.active_until
    account.cancel_at_period_end = False
    account.seats = None
    account.stripe_subscription_id = None
    account.save()
    subscription_change_record(account=account, old=old, action="subscription.activated", actor=actor, metadata={"months": months}, always=True)
    return account


@transaction.atomic
def manual_subscriptions_expire(*, now: datetime | None = None) -> int:
    """Downgrade manual subscriptions whose term ended to the free plan; return how many."""
    now = now or clock.now()
    free = plan_free_ensure()
    expired = 0
    due = Subscription.objects.select_for_update(skip_locked=True).filter(
        provider=Subscription.Provider.MANUAL, active_until__lte=now, status__in=Subscription.ENTITLED
    )
    for account in due:
        old = subscription_snapshot(account)
        account.plan = free
        account.status = Subscription.Status.EXPIRED
        account.cancel_at_period_end = False
        account.save()
        subscription_change_record(account=account, old=old, action="subscription.expired", actor=Actor.system())
        expired += 1
    return expired
