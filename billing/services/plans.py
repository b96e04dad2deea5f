"""Plan writes: seeding the catalog's plans and add-ons, syncing them to Stripe, and what an org buys of one."""

import stripe
from django.db import transaction
from djstripe import models as dj

from billing import catalog, gateway, selectors
from billing.models import AddOn, Plan
from core import clock
from core.exceptions import validation_error


def _plan_fields(definition: dict) -> dict:
    fields = {k: v for k, v in definition.items() if k not in ("code", "limits", "features")}
    return {**fields, **definition["limits"], **definition["features"]}


@transaction.atomic
def plans_seed(*, reset: bool = False) -> list[tuple[str, str]]:
    """Create the catalog's plans that are missing; with `reset`, put existing ones back to the defaults."""
    done = []
    for definition in catalog.DEFAULT_PLANS:
        plan = Plan.objects.select_for_update().filter(code=definition["code"]).first()
        if plan is None:
            Plan.objects.create(code=definition["code"], **_plan_fields(definition))
            done.append((definition["code"], "created"))
        elif reset:
            for name, value in _plan_fields(definition).items():
                setattr(plan, name, value)
            plan.save()
            done.append((definition["code"], "reset"))
        else:
            done.append((definition["code"], "kept"))
    return done + addons_seed(reset=reset)


def _addon_fields(definition: dict) -> dict:
    fields = {k: v for k, v in definition.items() if k not in ("code", "limits", "features")}
    return {**fields, "grant_limits": dict(definition["limits"]), "grant_features": dict(definition["features"])}


@transaction.atomic
def addons_seed(*, reset: bool = False) -> list[tuple[str, str]]:
    """Create the catalog's add-ons that are missing; with `reset`, put existing ones back to the defaults."""
    done = []
    for definition in catalog.DEFAULT_ADD_ONS:
        label = f"add-on {definition['code']}"
        add_on = AddOn.objects.select_for_update().filter(code=definition["code"]).first()
        if add_on is None:
            AddOn.objects.create(code=definition["code"], **_addon_fields(definition))
            done.append((label, "created"))
        elif reset:
            for name, value in _addon_fields(definition).items():
                setattr(add_on, name, value)
            add_on.save()
            done.append((label, "reset"))
        else:
            done.append((label, "kept"))
    return done


def plan_free_ensure() -> Plan:
    """The free plan's row, seeding the catalog's plans when it is missing."""
    plan = Plan.objects.filter(code=catalog.FREE).first()
    if plan is None:
        plans_seed()
        plan = Plan.objects.get(code=catalog.FREE)
    return plan


def _price_matches(price, *, item: Plan | AddOn, interval: str, product_id: str) -> bool:
    recurring = price.get("recurring") or {}
    product = price.get("product")
    product = product if isinstance(product, str) else (product or {}).get("id")
    return (
        bool(price.get("active"))
        and price.get("unit_amount") == item.price_for(interval)
        and (price.get("currency") or "").lower() == item.currency.lower()
        and recurring.get("interval") == interval
        and product == product_id
    )


def _catalog_sync_stripe(*, item: Plan | AddOn, product_id: str, lookup_prefix: str, metadata: dict[str, str]) -> dict[str, str]:
    """Create or update a plan's or add-on's Stripe Product and its monthly/yearly Prices; store their ids."""
    # Prices are immutable at Stripe: a changed amount makes a new Price (taking over the lookup
    # key) and archives the old one, so existing subscribers keep their price until changed.
    product_id = item.stripe_product_id or product_id
    product_params = {
        "name": item.name,
        "active": item.is_active,
        "metadata": metadata,
        **({"description": item.description} if item.description else {}),
    }
    key = gateway.api_key()
    with gateway.errors():
        product = gateway.product_retrieve(product_id)
        if product is None:
            product = gateway.product_create(id=product_id, **product_params)
        else:
            product = gateway.product_modify(product_id, **product_params)
        dj.Product.sync_from_stripe_data(product, api_key=key)
        result = {"product": product_id}
        for interval in catalog.Interval:
            lookup_key = f"{lookup_prefix}{item.code}_{interval}"
            stored = item.stripe_price_id_for(interval)
            price = None
            if stored:
                try:
                    price = gateway.price_retrieve(stored)
                except stripe.InvalidRequestError:
                    price = None
            if price is None or not _price_matches(price, item=item, interval=interval, product_id=product_id):
                candidate = gateway.price_by_lookup_key(lookup_key)
                if candidate is not None and _price_matches(candidate, item=item, interval=interval, product_id=product_id):
                    price = candidate
                else:
                    old = price or candidate
                    price = gateway.price_create(
                        product=product_id,
                        currency=item.currency,
                        unit_amount=item.price_for(interval),
                        recurring={"interval": str(interval)},
                        lookup_key=lookup_key,
                        transfer_lookup_key=True,
                        nickname=f"{item.name} ({interval}ly)",
                        metadata={**metadata, "interval": str(interval)},
                    )
                    if old is not None and old.get("active") and old["id"] != price["id"]:
                        dj.Price.sync_from_stripe_data(gateway.price_modify(old["id"], active=False), api_key=key)
            dj.Price.sync_from_stripe_data(price, api_key=key)
            result[str(interval)] = price["id"]
    type(item).objects.filter(id=item.id).update(
        stripe_product_id=product_id,
        stripe_price_month_id=result[catalog.Interval.MONTH],
        stripe_price_year_id=result[catalog.Interval.YEAR],
        updated_at=clock.now(),
    )
    return result


def plan_sync_stripe(*, plan: Plan) -> dict[str, str]:
    """Create or update the plan's Stripe Product and its monthly/yearly Prices (lookup keys `<code>_<interval>`)."""
    return _catalog_sync_stripe(item=plan, product_id=f"saas_plan_{plan.code}", lookup_prefix="", metadata={"plan_code": plan.code})


def addon_sync_stripe(*, add_on: AddOn) -> dict[str, str]:
    """Create or update the add-on's Stripe Product and Prices (lookup keys `addon_<code>_<interval>`)."""
    return _catalog_sync_stripe(item=add_on, product_id=f"saas_addon_{add_on.code}", lookup_prefix="addon_", metadata={"add_on_code": add_on.code})


def plans_sync_stripe() -> dict[str, dict[str, str]]:
    """Sync every paid plan to Stripe (the free plan has no Stripe objects)."""
    return {plan.code: plan_sync_stripe(plan=plan) for plan in Plan.objects.order_by("sort_order") if not plan.is_free}


def addons_sync_stripe() -> dict[str, dict[str, str]]:
    """Sync every priced add-on to Stripe."""
    return {add_on.code: addon_sync_stripe(add_on=add_on) for add_on in AddOn.objects.order_by("sort_order", "code") if not add_on.is_free}


def plan_for_price(*, price_id: str | None, code_hint: str | None = None) -> Plan | None:
    """The plan a Stripe Price belongs to (by stored id, else by the code in its metadata)."""
    if price_id:
        plan = Plan.objects.filter(stripe_price_month_id=price_id).first() or Plan.objects.filter(stripe_price_year_id=price_id).first()
        if plan is not None:
            return plan
    return Plan.objects.filter(code=code_hint).first() if code_hint else None


def plan_purchasable(plan_code: str, interval: str) -> tuple[Plan, str]:
    """The active paid plan an org may subscribe to, with its Stripe Price id for `interval`."""
    plan = Plan.objects.filter(code=plan_code, is_active=True).first()
    if plan is None:
        raise validation_error("plan", "Unknown plan.")
    if plan.is_free:
        raise validation_error("plan", "The free plan needs no subscription.")
    price_id = plan.stripe_price_id_for(interval)
    if not price_id:
        # Prices are created by `manage.py billing_sync_plans`.
        raise gateway.unavailable("This plan is not available for purchase yet.")
    return plan, price_id


def plan_quantity(plan: Plan, organization) -> int:
    """How many units of `plan` the org buys: its active members for a per-seat plan, else one."""
    return max(1, selectors.active_member_count(organization=organization)) if plan.per_seat else 1
