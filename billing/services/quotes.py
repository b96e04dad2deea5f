"""Quotes: what a plan (with add-ons) would cost the org, from whatever it runs now; writes nothing.

An org with a running Stripe subscription gets Stripe's invoice preview of the change (prorations
included); any other org (free, manual, lapsed) gets the catalog's prices times the periods asked.
"""

from typing import Any

from billing import catalog, gateway, selectors
from billing.models import AddOn, Plan, Subscription
from billing.services.addons import MAX_QUANTITY
from billing.services.plans import plan_quantity
from billing.services.state import subscription_items
from core import clock
from core.exceptions import validation_error

MAX_MONTHS = 36


def _periods(interval: str, months: int | None) -> int:
    """How many billing periods `months` covers (one by default)."""
    if interval == catalog.Interval.YEAR:
        months = 12 if months is None else months
        if months % 12 or not 12 <= months <= MAX_MONTHS:
            raise validation_error("months", f"A yearly quote covers 12, 24 or {MAX_MONTHS} months.")
        return months // 12
    months = 1 if months is None else months
    if not 1 <= months <= MAX_MONTHS:
        raise validation_error("months", f"Must be between 1 and {MAX_MONTHS}.")
    return months


def _plan(plan_code: str) -> Plan:
    plan = Plan.objects.filter(code=plan_code, is_active=True).first()
    if plan is None:
        raise validation_error("plan", "Unknown plan.")
    return plan


def _wanted_add_ons(plan: Plan, add_ons: list[dict] | None) -> dict[AddOn, int] | None:
    """The add-ons asked for with their quantities (None: keep the ones held)."""
    if add_ons is None:
        return None
    codes = [entry["code"] for entry in add_ons]
    if len(set(codes)) != len(codes):
        raise validation_error("add_ons", "Each add-on may be listed once.")
    if codes and plan.is_free:
        raise validation_error("add_ons", "Add-ons need a paid plan.")
    found = {a.code: a for a in AddOn.objects.public().filter(code__in=codes)}
    wanted = {}
    for entry in add_ons:
        add_on = found.get(entry["code"])
        if add_on is None:
            raise validation_error("add_ons", f"Unknown add-on: {entry['code']}.")
        if add_on.currency.lower() != plan.currency.lower():
            raise validation_error("add_ons", f"The add-on {add_on.code} is sold in another currency than the plan.")
        quantity = entry.get("quantity") or 1
        if not 1 <= quantity <= MAX_QUANTITY:
            raise validation_error("add_ons", f"Quantities are between 1 and {MAX_QUANTITY}.")
        wanted[add_on] = quantity
    return wanted


def quote_build(*, organization, plan_code: str, interval: str, months: int | None = None, add_ons: list[dict] | None = None) -> dict:
    """{currency, amount_due_now, recurring: {amount, interval}, proration: {credit, charge}, lines} for a plan and add-ons.

    `add_ons` is the whole set wanted after the change; None keeps the add-ons the org holds.
    """
    plan = _plan(plan_code)
    periods = _periods(interval, months)
    wanted = _wanted_add_ons(plan, add_ons)
    account = selectors.subscription_of(organization=organization)
    stripe_running = (
        account is not None
        and account.provider == Subscription.Provider.STRIPE
        and bool(account.stripe_subscription_id)
        and account.is_entitled()
        and not plan.is_free
    )
    if stripe_running:
        return _stripe_quote(account=account, plan=plan, interval=interval, wanted=wanted, organization=organization)
    if wanted is None:
        held = account.add_ons.all() if account is not None and account.is_entitled() and not plan.is_free else []
        wanted = {holding.add_on: holding.quantity for holding in held}
    return _catalog_quote(plan=plan, interval=interval, periods=periods, wanted=wanted, organization=organization)


def _catalog_quote(*, plan: Plan, interval: str, periods: int, wanted: dict[AddOn, int], organization) -> dict:
    """The catalog's prices: the plan (per seat when per-seat) and each add-on, times the periods."""
    quantity = plan_quantity(plan, organization)
    label = "monthly" if interval == catalog.Interval.MONTH else "yearly"
    per_period = [(f"{plan.name} ({label}) × {quantity}", plan.price_for(interval) * quantity)]
    per_period += [(f"{add_on.name} ({label}) × {count}", add_on.price_for(interval) * count) for add_on, count in wanted.items()]
    recurring = sum(amount for _, amount in per_period)
    suffix = f" × {periods} periods" if periods > 1 else ""
    return {
        "currency": plan.currency,
        "amount_due_now": recurring * periods,
        "recurring": {"amount": recurring, "interval": interval},
        "proration": {"credit": 0, "charge": 0},
        "lines": [{"description": description + suffix, "amount": amount * periods} for description, amount in per_period],
    }


def _is_proration(line: dict) -> bool:
    # Older API versions flag the line itself; newer ones under parent.subscription_item_details.
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    return bool(line.get("proration") or details.get("proration"))


def _stripe_quote(*, account: Subscription, plan: Plan, interval: str, wanted: dict[AddOn, int] | None, organization) -> dict:
    """Stripe's preview of moving the running subscription to `plan` with `wanted` add-ons."""
    price_id = plan.stripe_price_id_for(interval)
    if not price_id:
        raise gateway.unavailable("This plan is not available for purchase yet.")
    with gateway.errors():
        current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
        plan_item, held = subscription_items(current)
        if not plan_item:
            raise gateway.unavailable("The Stripe subscription has no plan item.")
        if wanted is None:
            wanted = {add_on: int(item.get("quantity") or 1) for add_on, item in held}
        items: list[dict[str, Any]] = [{"id": plan_item["id"], "price": price_id, "quantity": plan_quantity(plan, organization)}]
        for add_on, item in held:
            if add_on in wanted:
                items.append({"id": item["id"], "price": _addon_price(add_on, interval), "quantity": wanted.pop(add_on)})
            else:
                items.append({"id": item["id"], "deleted": True})
        items += [{"price": _addon_price(add_on, interval), "quantity": count} for add_on, count in wanted.items()]
        preview = gateway.as_dict(
            gateway.invoice_preview(
                customer=account.stripe_customer_id,
                subscription=account.stripe_subscription_id,
                subscription_details={
                    "items": items,
                    "proration_behavior": "create_prorations",
                    "proration_date": int(clock.now().timestamp()),
                },
            )
        )
    lines = (preview.get("lines") or {}).get("data") or []
    prorations = [int(line.get("amount") or 0) for line in lines if _is_proration(line)]
    credit = -sum(amount for amount in prorations if amount < 0)
    charge = sum(amount for amount in prorations if amount > 0)
    return {
        "currency": preview.get("currency") or plan.currency,
        # The prorated difference for the rest of the current period (a net credit stays on the balance).
        "amount_due_now": max(0, charge - credit),
        "recurring": {"amount": sum(int(line.get("amount") or 0) for line in lines if not _is_proration(line)), "interval": interval},
        "proration": {"credit": credit, "charge": charge},
        "lines": [{"description": line.get("description") or "", "amount": int(line.get("amount") or 0)} for line in lines],
    }


def _addon_price(add_on: AddOn, interval: str) -> str:
    price_id = add_on.stripe_price_id_for(interval)
    if not price_id:
        raise gateway.unavailable(f"The add-on {add_on.code} is not available for purchase yet.")
    return price_id
