"""Reconcile: compare an org's local subscription (Stripe or Razorpay) and pending one-off payments with the provider's, and repair the drift."""

from django.db import transaction

from billing import catalog, gateway
from billing.models import Payment, Subscription
from billing.services.customers import account_for_update
from billing.services.manual import manual_subscriptions_expire
from billing.services.plans import plan_for_price, plan_free_ensure
from billing.services.razorpay import razorpay_subscription_reconcile
from billing.services.state import (
    now_version,
    subscription_apply,
    subscription_change_record,
    subscription_facts,
    subscription_items,
    subscription_snapshot,
)
from billing.services.subscriptions import subscription_seats_sync
from core.actor import Actor


def _pick_current(subscriptions: list[dict]) -> dict | None:
    """The subscription that should be the org's: an entitled one, else the newest."""
    if not subscriptions:
        return None
    ranked = sorted(subscriptions, key=lambda s: (s.get("status") in Subscription.ENTITLED, s.get("created") or 0), reverse=True)
    return ranked[0]


@transaction.atomic
def subscription_reconcile(*, organization, dry_run: bool = False) -> list[str]:
    """Compare the org's local subscription with Stripe and repair drift; return what differed."""
    account = account_for_update(organization=organization)
    repairs: list[str] = []
    if account.provider == Subscription.Provider.MANUAL:
        if account.status in Subscription.ENTITLED and not account.is_entitled():
            repairs.append("manual subscription expired")
            if not dry_run:
                manual_subscriptions_expire()
        return repairs
    if account.provider == Subscription.Provider.RAZORPAY:
        if account.razorpay_subscription_id:
            repairs += razorpay_subscription_reconcile(account=account, dry_run=dry_run)
        return repairs
    if not account.stripe_customer_id:
        return repairs
    with gateway.errors():
        remote = [gateway.as_dict(s) for s in gateway.subscription_list(customer_id=account.stripe_customer_id)]
    current = _pick_current(remote)
    if current is None:
        if account.is_entitled():
            repairs.append("no subscription at Stripe: downgrading to free")
            if not dry_run:
                old = subscription_snapshot(account)
                account.plan = plan_free_ensure()
                account.status = Subscription.Status.CANCELED
                account.stripe_state_at = now_version()
                account.save()
                subscription_change_record(account=account, old=old, actor=Actor.system(), metadata={"source": "reconcile"})
        return repairs
    facts = subscription_facts(current)
    plan = plan_for_price(price_id=facts["price_id"], code_hint=facts["plan_hint"])
    expected_plan = (plan.code if plan else None) if facts["status"] in Subscription.ENTITLED else catalog.FREE
    local = {
        "subscription": account.stripe_subscription_id,
        "status": account.status,
        "plan": account.plan.code,
        "cancel_at_period_end": account.cancel_at_period_end,
        "seats": account.seats,
        "add_ons": subscription_snapshot(account)["add_ons"],
    }
    _, held = subscription_items(current)
    remote_add_ons: dict[str, int] = {}
    for add_on, item in held:
        remote_add_ons[add_on.code] = remote_add_ons.get(add_on.code, 0) + int(item.get("quantity") or 1)
    remote_state = {
        "subscription": facts["id"],
        "status": facts["status"],
        "plan": expected_plan,
        "cancel_at_period_end": facts["cancel_at_period_end"],
        "seats": facts["quantity"],
        "add_ons": remote_add_ons if facts["status"] in Subscription.ENTITLED else {},
    }
    repairs += [f"{key}: local {local[key]!r}, Stripe {remote_state[key]!r}" for key in local if local[key] != remote_state[key]]
    if repairs and not dry_run:
        # Stripe's answer right now is the newest state there is.
        subscription_apply(account=account, data=current, version=now_version(), authoritative=True, actor=Actor.system(), metadata={"source": "reconcile"})
    if not dry_run and facts["status"] in Subscription.ENTITLED and plan is not None and plan.per_seat:
        if subscription_seats_sync(organization=organization, actor=Actor.system()):
            repairs.append("seats synced to the member count")
    return repairs


def payments_pending_ids(*, organization_id=None) -> list:
    """Ids of one-off payments still pending, oldest first (each is reconciled with `payment_reconcile`)."""
    pending = Payment.objects.pending().order_by("created_at")
    if organization_id:
        pending = pending.filter(organization_id=organization_id)
    return list(pending.values_list("id", flat=True))
