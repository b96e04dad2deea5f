"""Plan writes: seeding the catalog's plans, syncing them to Stripe, and what an org buys of one."""

import stripe
from django.db import transaction
from djstripe import models as dj

from billing import catalog, gateway, selectors
from billing.models import Plan
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
    return done


def plan_free_ensure() -> Plan:
    """The free plan's row, seeding the catalog's plans when it is missing."""
    plan = Plan.objects.filter(code=catalog.FREE).first()
    if plan is None:
        plans_seed()
        plan = Plan.objects.get(code=catalog.FREE)
    return plan


def _price_matches(price, *, plan: Plan, interval: str, product_id: str) -> bool:
    recurring = price.get("recurring") or {}
    product = price.get("product")
    product = product if isinstance(product, str) else (product or {}).get("id")
    return (
        bool(price.get("active"))
        and price.get("unit_amount") == plan.price_for(interval)
        and (price.get("currency") or "").lower() == plan.currency.lower()
        and recurring.get("interval") == interval
        and product == product_id
    )


def plan_sync_stripe(*, plan: Plan) -> dict[str, str]:
    """Create or update the plan's Stripe Product and its monthly/yearly Prices; store their ids."""
    # Prices are immutable at Stripe: a changed amount makes a new Price (taking over the lookup
    # key) and archives the old one, so existing subscribers keep their price until changed.
    product_id = plan.stripe_product_id or f"saas_plan_{plan.code}"
    product_params = {
        "name": plan.name,
        "active": plan.is_active,
        "metadata": {"plan_code": plan.code},
        **({"description": plan.description} if plan.description else {}),
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
            lookup_key = f"{plan.code}_{interval}"
            stored = plan.stripe_price_id_for(interval)
            price = None
            if stored:
                try:
                    price = gateway.price_retrieve(stored)
                except stripe.InvalidRequestError:
                    price = None
            if price is None or not _price_matches(price, plan=plan, interval=interval, product_id=product_id):
                candidate = gateway.price_by_lookup_key(lookup_key)
                if candidate is not None and _price_matches(candidate, plan=plan, interval=interval, product_id=product_id):
                    price = candidate
                else:
                    old = price or candidate
                    price = gateway.price_create(
                        product=product_id,
                        currency=plan.currency,
                        unit_amount=plan.price_for(interval),
                        recurring={"interval": str(interval)},
                        lookup_key=lookup_key,
                        transfer_lookup_key=True,
                        nickname=f"{plan.name} ({interval}ly)",
                        metadata={"plan_code": plan.code, "interval": str(interval)},
                    )
                    if old is not None and old.get("active") and old["id"] != price["id"]:
                        dj.Price.sync_from_stripe_data(gateway.price_modify(old["id"], active=False), api_key=key)
            dj.Price.sync_from_stripe_data(price, api_key=key)
            result[str(interval)] = price["id"]
    Plan.objects.filter(id=plan.id).update(
        stripe_product_id=product_id,
        stripe_price_month_id=result[catalog.Interval.MONTH],
        stripe_price_year_id=result[catalog.Interval.YEAR],
        updated_at=clock.now(),
    )
    return result


def plans_sync_stripe() -> dict[str, dict[str, str]]:
    """Sync every paid plan to Stripe (the free plan has no Stripe objects)."""
    return {plan.code: plan_sync_stripe(plan=plan) for plan in Plan.objects.order_by("sort_order") if not plan.is_free}


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
