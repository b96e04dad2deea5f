"""Subscription state: what we keep of a Stripe subscription, applying it to the org's billing row,
and recording every change (audit event, the owner's notification)."""

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from djstripe import models as dj

from audit.services import event_record
from billing import gateway
from billing.models import AddOn, Plan, Subscription, SubscriptionAddOn
from billing.services.customers import organization_owner
from billing.services.plans import plan_for_price, plan_free_ensure
from core import clock
from core.actor import Actor
from notifications import services as notification_services

logger = logging.getLogger(__name__)


def stripe_datetime(value) -> datetime | None:
    """A Stripe Unix timestamp as an aware datetime (None when absent)."""
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _id_of(value) -> str | None:
    if isinstance(value, str):
        return value
    return (value or {}).get("id")


def now_version() -> datetime:
    """The version of what Stripe's API answers now: nothing delivered earlier is newer."""
    return clock.now()


def _price_of(item: dict) -> dict:
    price = item.get("price") or item.get("plan") or {}
    return price if isinstance(price, dict) else {"id": price}


def subscription_items(data: dict) -> tuple[dict, list[tuple[AddOn, dict]]]:
    """Split a Stripe subscription's items by price: the plan's item, and each add-on's item."""
    items = (data.get("items") or {}).get("data") or []
    if len(items) <= 1:
        # Every subscription starts with the plan alone (checkout): no add-on to look up.
        return (items[0] if items else {}), []
    prices = [_price_of(item) for item in items]
    ids = [price.get("id") for price in prices if price.get("id")]
    # By the stored price ids, else by the code in the price's metadata (a price archived by a
    # later sync keeps its subscribers, and its metadata).
    codes = [(price.get("metadata") or {}).get("add_on_code") for price in prices]
    add_ons = list(AddOn.objects.filter(Q(stripe_price_month_id__in=ids) | Q(stripe_price_year_id__in=ids) | Q(code__in=[c for c in codes if c])))
    by_price = {price_id: a for a in add_ons for price_id in (a.stripe_price_month_id, a.stripe_price_year_id) if price_id}
    by_code = {a.code: a for a in add_ons}
    held, rest = [], []
    for item, price, code in zip(items, prices, codes, strict=True):
        add_on = by_price.get(price.get("id")) or by_code.get(code)
        if add_on is not None:
            held.append((add_on, item))
        else:
            rest.append(item)
    plan_item = rest[0] if rest else {}
    if len(rest) > 1:
        plan_ids = {price_id for pair in Plan.objects.values_list("stripe_price_month_id", "stripe_price_year_id") for price_id in pair if price_id}
        plan_item = next((i for i in rest if _price_of(i).get("id") in plan_ids or (_price_of(i).get("metadata") or {}).get("plan_code")), rest[0])
    return plan_item, held


def subscription_facts(data: dict) -> dict:
    """What we keep of a Stripe subscription (whichever API version shaped it); the plan's item is found by its price."""
    item, _ = subscription_items(data)
    price = item.get("price") or data.get("plan") or {}
    price = price if isinstance(price, dict) else {"id": price}
    status = data.get("status") or Subscription.Status.INCOMPLETE
    scheduled = bool(data.get("cancel_at_period_end")) or data.get("cancel_at") is not None
    return {
        "id": data["id"],
        "customer": _id_of(data.get("customer")),
        "status": status,
        "price_id": price.get("id"),
        # Prices carry `recurring.interval`; the legacy `plan` object its own `interval`.
        "interval": (price.get("recurring") or {}).get("interval") or price.get("interval") or "",
        "quantity": item.get("quantity") or data.get("quantity"),
        # Newer API versions moved the period to the items.
        "current_period_end": stripe_datetime(data.get("current_period_end") or item.get("current_period_end")),
        "cancel_at_period_end": scheduled and status not in (Subscription.Status.CANCELED,),
        "plan_hint": (data.get("metadata") or {}).get("plan"),
    }


def subscription_apply(
    *,
    account: Subscription,
    data: dict,
    version: datetime,
    actor: Actor,
    metadata: dict | None = None,
    action: str = "subscription.changed",
    always: bool = False,
    authoritative: bool = False,
) -> tuple[bool, str]:
    """Record a Stripe subscription's state on the (locked) org row unless newer state is there; return (applied, note)."""
    # `version` is when `data` was current: a webhook event's `created`. `authoritative` marks what
    # Stripe's API just answered us (a change we made, reconcile): nothing delivered earlier can be
    # newer, so it always applies, whatever the two clocks say.
    facts = subscription_facts(data)
    entitled = facts["status"] in Subscription.ENTITLED
    current = account.stripe_subscription_id
    if current and current != facts["id"] and not entitled and account.is_entitled():
        return False, "ignored: not the organization's current subscription"
    if authoritative and account.stripe_state_at:
        version = max(version, account.stripe_state_at)
    elif current == facts["id"] and account.stripe_state_at and version < account.stripe_state_at:
        return False, "stale: newer state of this subscription is already applied"
    plan = plan_for_price(price_id=facts["price_id"], code_hint=facts["plan_hint"])
    if plan is None and entitled:
        logger.error("stripe subscription %s uses unknown price %s", facts["id"], facts["price_id"])
        return False, f"ignored: price {facts['price_id']} belongs to no plan"
    old = subscription_snapshot(account)
    account.provider = Subscription.Provider.STRIPE
    account.status = facts["status"]
    account.plan = plan if entitled else plan_free_ensure()
    account.interval = facts["interval"]
    account.stripe_subscription_id = facts["id"]
    account.current_period_end = facts["current_period_end"]
    account.cancel_at_period_end = facts["cancel_at_period_end"]
    account.seats = facts["quantity"]
    account.active_until = None
    account.stripe_state_at = version
    if not account.stripe_customer_id and facts["customer"]:
        account.stripe_customer_id = facts["customer"]
    account.save()
    # Stripe is the record of the add-ons of a Stripe subscription; they end with it.
    subscription_addons_apply(account=account, held=subscription_items(data)[1] if entitled else [])
    with gateway.errors():
        dj.Subscription.sync_from_stripe_data(gateway.as_stripe_object(data), api_key=gateway.api_key())
    subscription_change_record(account=account, old=old, action=action, actor=actor, metadata=metadata, always=always)
    return True, "applied"


def subscription_addons_apply(*, account: Subscription, held: list[tuple[AddOn, dict]]) -> None:
    """Make the org's add-on rows what a Stripe subscription's items say (quantity, item id); drop the rest."""
    rows = {row.add_on_id: row for row in SubscriptionAddOn.objects.filter(subscription=account)}
    wanted: dict = {}
    for add_on, item in held:
        quantity = int(item.get("quantity") or 1)
        if add_on.id in wanted:  # two items of one add-on: one holding of both
            wanted[add_on.id] = (add_on, wanted[add_on.id][1], wanted[add_on.id][2] + quantity)
        else:
            wanted[add_on.id] = (add_on, item.get("id") or "", quantity)
    for add_on_id, row in rows.items():
        if add_on_id not in wanted:
            row.delete()
    for add_on_id, (add_on, item_id, quantity) in wanted.items():
        row = rows.get(add_on_id)
        if row is None:
            SubscriptionAddOn.objects.create(
                organization_id=account.organization_id, subscription=account, add_on=add_on, quantity=quantity, stripe_subscription_item_id=item_id
            )
        elif (row.quantity, row.stripe_subscription_item_id) != (quantity, item_id):
            row.quantity, row.stripe_subscription_item_id = quantity, item_id
            row.save(update_fields=["quantity", "stripe_subscription_item_id", "updated_at"])


def subscription_snapshot(account: Subscription) -> dict[str, Any]:
    """The billing row's audited fields, to diff against after a change."""
    # Read fresh (not a prefetched cache): the snapshot before a change must not be served after it.
    add_ons = dict(SubscriptionAddOn.objects.filter(subscription_id=account.pk).values_list("add_on__code", "quantity")) if account.pk else {}
    return {
        "plan": account.plan.code if account.plan_id else None,
        "status": account.status,
        "provider": account.provider or None,
        "interval": account.interval or None,
        "cancel_at_period_end": account.cancel_at_period_end,
        "current_period_end": account.current_period_end,
        "active_until": account.active_until,
        "seats": account.seats,
        "add_ons": add_ons,
    }


def subscription_change_record(*, account: Subscription, old: dict, actor: Actor, action: str = "subscription.changed", metadata=None, always=False) -> None:
    """Audit what changed since `old` (a snapshot); tell the owner when plan, status or cancellation did."""
    new = subscription_snapshot(account)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    if changes or always:
        event_record(
            action=action,
            actor=actor,
            organization_id=account.organization_id,
            target=account,
            changes=changes,
            metadata=metadata or {},
        )
    if {"plan", "status", "cancel_at_period_end"} & set(changes):
        _notify_subscription_changed(account=account, old=old, new=new)


def _notify_subscription_changed(*, account: Subscription, old: dict, new: dict) -> None:
    """Tell the owner their plan changed, after commit (a rolled-back attempt must not notify)."""
    organization = account.organization
    owner = organization_owner(organization)
    if owner is None:
        return
    context = {
        "plan": new["plan"],
        "previous_plan": old["plan"],
        "interval": new["interval"],
        "status": new["status"],
        "cancel_at_period_end": new["cancel_at_period_end"],
        "current_period_end": new["current_period_end"].isoformat() if new["current_period_end"] else None,
    }
    transaction.on_commit(
        lambda: notification_services.notify(event="subscription_changed", user=owner, organization=organization, context=context),
        robust=True,
    )
