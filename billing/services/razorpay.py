"""Razorpay as a plan provider: plans synced as Razorpay plans, checkout through Razorpay Subscriptions,
and a Razorpay subscription's state applied to the org's billing row (webhooks, reconcile)."""

import logging
from datetime import UTC, datetime

from django.db import transaction

from billing import catalog, gateway, gateway_razorpay
from billing.models import Plan, Subscription
from billing.services.customers import account_for_update
from billing.services.plans import plan_free_ensure, plan_quantity
from billing.services.state import now_version, subscription_change_record, subscription_snapshot
from core import clock
from core.actor import Actor
from core.exceptions import conflict

logger = logging.getLogger(__name__)

PERIOD = {catalog.Interval.MONTH: "monthly", catalog.Interval.YEAR: "yearly"}
# Razorpay subscriptions run a fixed number of cycles: ten years' worth, renewed in effect forever.
TOTAL_COUNT = {catalog.Interval.MONTH: 120, catalog.Interval.YEAR: 10}
# Razorpay subscription status -> ours.
STATUS = {
    "created": Subscription.Status.INCOMPLETE,
    "authenticated": Subscription.Status.INCOMPLETE,
    "active": Subscription.Status.ACTIVE,
    "pending": Subscription.Status.PAST_DUE,
    "halted": Subscription.Status.UNPAID,
    "paused": Subscription.Status.PAUSED,
    "cancelled": Subscription.Status.CANCELED,
    "completed": Subscription.Status.CANCELED,
    "expired": Subscription.Status.INCOMPLETE_EXPIRED,
}


def _datetime(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


# --- plans (billing_sync_plans) --------------------------------------------------------------------------


def _plan_matches(remote: dict | None, *, plan: Plan, interval: str) -> bool:
    item = (remote or {}).get("item") or {}
    return (
        remote is not None
        and remote.get("period") == PERIOD[interval]
        and int(remote.get("interval") or 0) == 1
        and int(item.get("amount") or 0) == plan.price_for(interval)
        and (item.get("currency") or "").lower() == plan.currency.lower()
    )


def plan_sync_razorpay(*, plan: Plan) -> dict[str, str]:
    """Make sure the plan has a Razorpay plan per interval at its current price; store their ids."""
    # Razorpay plans cannot be edited: a changed price makes a new plan, existing subscribers keep theirs.
    result = {}
    with gateway_razorpay.errors():
        for interval in catalog.Interval:
            stored = plan.razorpay_plan_id_for(interval)
            remote = gateway_razorpay.plan_fetch(stored) if stored else None
            if not _plan_matches(remote, plan=plan, interval=interval):
                remote = gateway_razorpay.plan_create(
                    period=PERIOD[interval],
                    interval=1,
                    item={"name": f"{plan.name} ({interval}ly)", "amount": plan.price_for(interval), "currency": plan.currency.upper()},
                    notes={"plan_code": plan.code, "interval": str(interval)},
                )
            result[str(interval)] = remote["id"]
    Plan.objects.filter(id=plan.id).update(
        razorpay_plan_month_id=result[catalog.Interval.MONTH], razorpay_plan_year_id=result[catalog.Interval.YEAR], updated_at=clock.now()
    )
    return result


def plans_sync_razorpay() -> dict[str, dict[str, str]]:
    """Sync every paid plan to Razorpay (nothing when Razorpay is not configured)."""
    if not gateway_razorpay.configured():
        return {}
    return {plan.code: plan_sync_razorpay(plan=plan) for plan in Plan.objects.order_by("sort_order") if not plan.is_free}


def plan_for_razorpay(*, plan_id: str | None, code_hint: str | None = None) -> tuple[Plan | None, str]:
    """The plan (and interval) a Razorpay plan id belongs to, else the code in the subscription's notes."""
    if plan_id:
        for interval in catalog.Interval:
            plan = Plan.objects.filter(**{f"razorpay_plan_{interval}_id": plan_id}).first()
            if plan is not None:
                return plan, str(interval)
    return (Plan.objects.filter(code=code_hint).first() if code_hint else None), ""


# --- checkout -------------------------------------------------------------------------------------------------


def checkout_start_razorpay(*, organization, account: Subscription, plan: Plan, interval: str, success_url: str, actor: Actor) -> dict:
    """Create a Razorpay subscription for the plan; the browser authorises it at Razorpay's `short_url`."""
    plan_id = plan.razorpay_plan_id_for(interval)
    if not plan_id:
        # Razorpay plans are created by `manage.py billing_sync_plans`.
        raise gateway.unavailable("This plan is not available through Razorpay yet.")
    notes = {"organization_id": str(organization.id), "plan": plan.code, "interval": str(interval), "success_url": success_url[:256]}
    with gateway_razorpay.errors():
        remote = gateway_razorpay.subscription_create(
            plan_id=plan_id,
            total_count=TOTAL_COUNT[interval],
            quantity=plan_quantity(plan, organization),
            customer_notify=1,
            notes=notes,
        )
    from audit.services import event_record

    event_record(
        action="checkout.started",
        actor=actor,
        organization_id=organization.id,
        target_type="razorpay_subscription",
        target_id=remote["id"],
        metadata={"provider": "razorpay", "plan": plan.code, "interval": str(interval)},
    )
    return {"checkout_url": remote["short_url"], "session_id": remote["id"]}


# --- state ----------------------------------------------------------------------------------------------------------


def razorpay_subscription_facts(entity: dict) -> dict:
    """What we keep of a Razorpay subscription entity."""
    notes = entity.get("notes") or {}
    notes = notes if isinstance(notes, dict) else {}
    return {
        "id": entity["id"],
        "status": str(STATUS.get(entity.get("status") or "", Subscription.Status.INCOMPLETE)),
        "plan_id": entity.get("plan_id"),
        "plan_hint": notes.get("plan"),
        "interval_hint": notes.get("interval"),
        "quantity": int(entity.get("quantity") or 1),
        "current_period_end": _datetime(entity.get("current_end") or entity.get("charge_at")),
        "organization_id": notes.get("organization_id"),
    }


def razorpay_subscription_apply(
    *,
    account: Subscription,
    entity: dict,
    version: datetime,
    actor: Actor,
    metadata: dict | None = None,
    authoritative: bool = False,
    action: str = "subscription.changed",
    record: bool = True,
) -> tuple[bool, str]:
    """Record a Razorpay subscription's state on the (locked) org row unless newer state is there."""
    facts = razorpay_subscription_facts(entity)
    entitled = facts["status"] in Subscription.ENTITLED
    current = account.razorpay_subscription_id if account.provider == Subscription.Provider.RAZORPAY else None
    # A row without a provider is the free plan: nothing bills the org yet.
    billed = bool(account.provider) and account.is_entitled()
    if billed and current != facts["id"] and not entitled:
        return False, "ignored: not the organization's current subscription"
    if billed and account.provider != Subscription.Provider.RAZORPAY and entitled:
        # Billed elsewhere already (Stripe or manual): two providers would bill the org twice.
        logger.error("razorpay subscription %s activated for org %s billed by %s", facts["id"], account.organization_id, account.provider)
        return False, f"ignored: the organization is billed by {account.provider}"
    if authoritative and account.razorpay_state_at:
        version = max(version, account.razorpay_state_at)
    elif account.razorpay_subscription_id == facts["id"] and account.razorpay_state_at and version < account.razorpay_state_at:
        return False, "stale: newer state of this subscription is already applied"
    plan, interval = plan_for_razorpay(plan_id=facts["plan_id"], code_hint=facts["plan_hint"])
    if plan is None and entitled:
        logger.error("razorpay subscription %s uses unknown plan %s", facts["id"], facts["plan_id"])
        return False, f"ignored: Razorpay plan {facts['plan_id']} belongs to no plan"
    old = subscription_snapshot(account)
    # A cancellation scheduled for the cycle's end stays until the subscription ends or is another.
    still_cancelling = account.cancel_at_period_end and account.razorpay_subscription_id == facts["id"] and entitled
    account.provider = Subscription.Provider.RAZORPAY
    account.status = facts["status"]
    account.plan = plan if entitled else plan_free_ensure()
    account.interval = interval or (facts["interval_hint"] if facts["interval_hint"] in {str(i) for i in catalog.Interval} else "")
    account.razorpay_subscription_id = facts["id"]
    account.current_period_end = facts["current_period_end"]
    account.cancel_at_period_end = still_cancelling
    account.seats = facts["quantity"]
    account.active_until = None
    account.razorpay_state_at = version
    account.save()
    if record:
        subscription_change_record(account=account, old=old, action=action, actor=actor, metadata=metadata)
    return True, "applied"


@transaction.atomic
def razorpay_subscription_cancel(*, organization, immediately: bool, actor: Actor) -> Subscription:
    """Cancel the org's Razorpay subscription (at the end of the cycle, or now)."""
    account = account_for_update(organization=organization)
    if account.provider != Subscription.Provider.RAZORPAY or not account.razorpay_subscription_id or not account.is_entitled():
        raise conflict("The organization has no active Razorpay subscription.")
    with gateway_razorpay.errors():
        remote = gateway_razorpay.subscription_cancel(account.razorpay_subscription_id, at_cycle_end=not immediately)
    old = subscription_snapshot(account)
    # Quietly: the one audit event below covers both the state Razorpay answered and the flag.
    with transaction.atomic():
        razorpay_subscription_apply(account=account, entity=remote, version=now_version(), authoritative=True, actor=actor, record=False)
        if not immediately:
            # Razorpay keeps the subscription `active` until the cycle ends; the flag is ours to hold.
            account.cancel_at_period_end = True
            account.save(update_fields=["cancel_at_period_end", "updated_at"])
        subscription_change_record(account=account, old=old, action="subscription.cancelled", actor=actor, metadata={"immediately": immediately}, always=True)
    return account


def razorpay_subscription_reconcile(*, account: Subscription, dry_run: bool) -> list[str]:
    """Compare the (locked) row with Razorpay's subscription and repair drift; return what differed."""
    with gateway_razorpay.errors():
        remote = gateway_razorpay.subscription_fetch(account.razorpay_subscription_id)
    facts = razorpay_subscription_facts(remote)
    plan, _ = plan_for_razorpay(plan_id=facts["plan_id"], code_hint=facts["plan_hint"])
    expected_plan = (plan.code if plan else None) if facts["status"] in Subscription.ENTITLED else catalog.FREE
    local = {"status": account.status, "plan": account.plan.code, "seats": account.seats}
    remote_state = {"status": facts["status"], "plan": expected_plan, "seats": facts["quantity"]}
    repairs = [f"{key}: local {local[key]!r}, Razorpay {remote_state[key]!r}" for key in local if local[key] != remote_state[key]]
    if repairs and not dry_run:
        razorpay_subscription_apply(
            account=account, entity=remote, version=now_version(), authoritative=True, actor=Actor.system(), metadata={"source": "reconcile"}
        )
    return repairs
