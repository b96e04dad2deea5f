"""Changes an org makes to its subscription: plan, cancellation, reactivation, auto-renew, seats.

Stripe-backed changes call Stripe first (gateway), then apply what Stripe answered
(`state.subscription_apply`) in the caller's transaction.
"""

from typing import Any

from django.db import transaction

from billing import catalog, gateway, selectors
from billing.models import Subscription
from billing.services.checkout import checkout_start
from billing.services.customers import account_for_update
from billing.services.plans import plan_free_ensure, plan_purchasable, plan_quantity
from billing.services.razorpay import razorpay_subscription_cancel
from billing.services.state import (
    now_version,
    stripe_datetime,
    subscription_apply,
    subscription_change_record,
    subscription_items,
    subscription_snapshot,
)
from core import clock
from core.actor import Actor
from core.exceptions import conflict, validation_error


def _stripe_account(organization) -> Subscription:
    account = account_for_update(organization=organization)
    if account.provider != Subscription.Provider.STRIPE or not account.stripe_subscription_id or not account.is_entitled():
        if account.provider == Subscription.Provider.MANUAL and account.is_entitled():
            raise conflict("The organization is billed outside Stripe (manual subscription).")
        raise conflict("The organization has no active Stripe subscription: start one with checkout.")
    return account


def _item_id(subscription: dict) -> str:
    """The id of the subscription's plan item (found by its price: add-ons are items too)."""
    item, _ = subscription_items(subscription)
    if not item:
        raise gateway.unavailable("The Stripe subscription has no plan item.")
    return item["id"]


def _plan_change_items(subscription: dict, *, price_id: str, quantity: int, interval: str) -> list[dict[str, Any]]:
    """Items of a plan change: the plan's item to the new price, add-ons' items to the new interval's price."""
    plan_item, held = subscription_items(subscription)
    if not plan_item:
        raise gateway.unavailable("The Stripe subscription has no plan item.")
    items: list[dict[str, Any]] = [{"id": plan_item["id"], "price": price_id, "quantity": quantity}]
    for add_on, item in held:
        # Stripe bills every item of a subscription on one interval.
        add_on_price = add_on.stripe_price_id_for(interval)
        if (item.get("price") or {}).get("id") != add_on_price:
            if not add_on_price:
                raise gateway.unavailable(f"The add-on {add_on.code} is not available for purchase yet.")
            items.append({"id": item["id"], "price": add_on_price})
    return items


@transaction.atomic
def subscription_change_plan(*, organization, plan_code: str, interval: str | None, actor: Actor, proration_date: int | None = None) -> Subscription:
    """Move the org's Stripe subscription to another plan/interval, prorating the difference."""
    account = _stripe_account(organization)
    interval = interval or account.interval or catalog.Interval.MONTH
    plan, price_id = plan_purchasable(plan_code, interval)
    if plan.id == account.plan_id and interval == account.interval:
        raise validation_error("plan", "The organization is already on this plan.")
    with gateway.errors():
        current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
        params: dict[str, Any] = {
            "items": _plan_change_items(current, price_id=price_id, quantity=plan_quantity(plan, organization), interval=interval),
            "proration_behavior": "create_prorations",
            "cancel_at_period_end": False,
            "metadata": {"organization_id": str(organization.id), "plan": plan.code, "interval": interval},
        }
        if proration_date:
            params["proration_date"] = proration_date
        updated = gateway.as_dict(gateway.subscription_modify(account.stripe_subscription_id, **params))
    subscription_apply(account=account, data=updated, version=now_version(), authoritative=True, actor=actor)
    return account


@transaction.atomic
def subscription_change_plan_or_checkout(
    *,
    organization,
    plan_code: str,
    interval: str | None,
    actor: Actor,
    proration_date: int | None = None,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> dict:
    """Change a running Stripe subscription's plan, or from free open a Checkout for the plan.

    Returns {"subscription": Subscription} or {"checkout": {checkout_url, session_id}}.
    """
    account = account_for_update(organization=organization)
    # Any running subscription (whatever its provider) changes plan, or refuses; only free checks out.
    if not (account.is_entitled() and account.provider):
        return {
            "checkout": checkout_start(
                organization=organization,
                plan_code=plan_code,
                interval=interval or catalog.Interval.MONTH,
                success_url=success_url,
                cancel_url=cancel_url,
                actor=actor,
            )
        }
    account = subscription_change_plan(organization=organization, plan_code=plan_code, interval=interval, actor=actor, proration_date=proration_date)
    return {"subscription": account}


def subscription_preview_change(*, organization, plan_code: str, interval: str | None) -> dict:
    """What changing plan would cost now (Stripe's invoice preview with prorations); writes nothing."""
    account = selectors.subscription_of(organization=organization)
    if account is None or account.provider != Subscription.Provider.STRIPE or not account.is_entitled():
        raise conflict("The organization has no active Stripe subscription: start one with checkout.")
    interval = interval or account.interval or catalog.Interval.MONTH
    plan, price_id = plan_purchasable(plan_code, interval)
    proration_date = int(clock.now().timestamp())
    with gateway.errors():
        current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
        preview = gateway.as_dict(
            gateway.invoice_preview(
                customer=account.stripe_customer_id,
                subscription=account.stripe_subscription_id,
                subscription_details={
                    "items": _plan_change_items(current, price_id=price_id, quantity=plan_quantity(plan, organization), interval=interval),
                    "proration_behavior": "create_prorations",
                    "proration_date": proration_date,
                },
            )
        )
    lines = (preview.get("lines") or {}).get("data") or []
    return {
        "plan": plan.code,
        "interval": interval,
        "currency": preview.get("currency") or plan.currency,
        "amount_due": preview.get("amount_due", 0),
        "subtotal": preview.get("subtotal", 0),
        "total": preview.get("total", 0),
        "proration_date": proration_date,
        "lines": [
            {
                "description": line.get("description") or "",
                "amount": line.get("amount", 0),
                "proration": bool(line.get("proration") or ((line.get("parent") or {}).get("subscription_item_details") or {}).get("proration")),
                "period_start": stripe_datetime((line.get("period") or {}).get("start")),
                "period_end": stripe_datetime((line.get("period") or {}).get("end")),
            }
            for line in lines
        ],
    }


@transaction.atomic
def subscription_cancel(*, organization, immediately: bool, actor: Actor) -> Subscription:
    """Cancel at the end of the period (or now): the org keeps its plan until then, then is on free."""
    account = account_for_update(organization=organization)
    if not account.is_entitled() or not account.provider:
        raise conflict("The organization has no subscription to cancel.")
    audit = {"action": "subscription.cancelled", "actor": actor, "metadata": {"immediately": immediately}}
    if account.provider == Subscription.Provider.MANUAL:
        old = subscription_snapshot(account)
        if immediately:
            account.plan = plan_free_ensure()
            account.status = Subscription.Status.CANCELED
            account.active_until = clock.now()
            account.current_period_end = account.active_until
        account.cancel_at_period_end = not immediately
        account.save()
        subscription_change_record(account=account, old=old, always=True, **audit)
        return account
    if account.provider == Subscription.Provider.RAZORPAY:
        return razorpay_subscription_cancel(organization=organization, immediately=immediately, actor=actor)
    with gateway.errors():
        if immediately:
            data = gateway.subscription_cancel(account.stripe_subscription_id)
        else:
            data = gateway.subscription_modify(account.stripe_subscription_id, cancel_at_period_end=True)
    subscription_apply(account=account, data=gateway.as_dict(data), version=now_version(), authoritative=True, always=True, **audit)
    return account


@transaction.atomic
def subscription_reactivate(*, organization, actor: Actor) -> Subscription:
    """Undo a pending cancellation."""
    account = account_for_update(organization=organization)
    if not account.is_entitled() or not account.cancel_at_period_end:
        raise conflict("There is no pending cancellation to undo.")
    audit = {"action": "subscription.reactivated", "actor": actor}
    if account.provider == Subscription.Provider.MANUAL:
        old = subscription_snapshot(account)
        account.cancel_at_period_end = False
        account.save()
        subscription_change_record(account=account, old=old, always=True, **audit)
        return account
    if account.provider == Subscription.Provider.RAZORPAY:
        # Razorpay's API cannot take back a cancellation scheduled for the cycle's end.
        raise conflict("A Razorpay subscription's scheduled cancellation cannot be undone: subscribe again after it ends.")
    with gateway.errors():
        data = gateway.subscription_modify(account.stripe_subscription_id, cancel_at_period_end=False)
    subscription_apply(account=account, data=gateway.as_dict(data), version=now_version(), authoritative=True, always=True, **audit)
    return account


@transaction.atomic
def subscription_auto_renew_set(*, organization, enabled: bool, actor: Actor) -> Subscription:
    """Renew at the period end (`enabled`) or stop there: `cancel_at_period_end` (setting it twice changes nothing)."""
    account = account_for_update(organization=organization)
    if not account.is_entitled() or not account.provider:
        raise conflict("The organization has no subscription to renew.")
    if account.cancel_at_period_end != enabled:
        return account
    if enabled:
        return subscription_reactivate(organization=organization, actor=actor)
    return subscription_cancel(organization=organization, immediately=False, actor=actor)


@transaction.atomic
def subscription_seats_sync(*, organization, actor: Actor) -> bool:
    """Make a per-seat Stripe subscription's quantity the org's active member count; True when changed."""
    account = account_for_update(organization=organization)
    if account.provider != Subscription.Provider.STRIPE or not account.is_entitled() or not account.plan.per_seat:
        return False
    seats = plan_quantity(account.plan, organization)
    if account.seats == seats:
        return False
    with gateway.errors():
        current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
        data = gateway.subscription_modify(
            account.stripe_subscription_id,
            items=[{"id": _item_id(current), "quantity": seats}],
            proration_behavior="create_prorations",
        )
    subscription_apply(account=account, data=gateway.as_dict(data), version=now_version(), authoritative=True, actor=actor, metadata={"reason": "seats"})
    return True
