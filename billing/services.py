"""Writes: plans, the org's Stripe customer and subscription, manual billing, payments, usage.

Stripe-backed changes call Stripe first (gateway), then record what Stripe answered, locally
and in dj-stripe's models, with the audit event, in the caller's transaction. Webhooks
(billing.webhooks) bring the same state later; the ordering guard keeps the newest.
"""
import calendar
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from djstripe import models as dj

from audit.services import event_record
from billing import catalog, gateway, selectors
from billing.models import Plan, Subscription, UsageCounter
from core import clock, hooks
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from organizations.models import Membership, Organization

logger = logging.getLogger(__name__)

OWNER = "owner"
MAX_MANUAL_MONTHS = 36


# --- plans ------------------------------------------------------------------------------------


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


def _free_plan_row() -> Plan:
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
        plan = (
            Plan.objects.filter(stripe_price_month_id=price_id).first()
            or Plan.objects.filter(stripe_price_year_id=price_id).first()
        )
        if plan is not None:
            return plan
    return Plan.objects.filter(code=code_hint).first() if code_hint else None


# --- the org's billing row and Stripe customer -------------------------------------------------------


def account_for_update(*, organization) -> Subscription:
    """Lock the org's billing row (creating it on the free plan): its changes apply one at a time."""
    account = Subscription.objects.select_for_update().filter(organization=organization).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            Subscription.objects.create(organization=organization, plan=_free_plan_row())
    except IntegrityError:
        pass  # created concurrently: lock that one
    return Subscription.objects.select_for_update().get(organization=organization)


def organization_owner(organization):
    """The org's owner (None while ownership is vacant)."""
    membership = Membership.objects.select_related("user").filter(organization=organization, role=OWNER).first()
    return membership.user if membership else None


def customer_ensure(*, account: Subscription, actor=None, request=None) -> str:
    """The org's Stripe customer id, creating the customer (once) the first time it is needed."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    organization = account.organization
    owner = organization_owner(organization)
    with gateway.errors():
        customer = gateway.customer_create(
            organization_id=str(organization.id), name=organization.name, email=getattr(owner, "email", None)
        )
        dj.Customer.sync_from_stripe_data(customer, api_key=gateway.api_key())
    account.stripe_customer_id = customer["id"]
    account.save(update_fields=["stripe_customer_id", "updated_at"])
    event_record(
        action="billing_customer.created",
        actor=actor,
        organization_id=organization.id,
        target_type="stripe_customer",
        target_id=customer["id"],
        request=request,
    )
    return customer["id"]


def _frontend_url(url: str | None, *, default_path: str, field: str) -> str:
    """A return URL on the front end's origin (default: FRONTEND_URL + path)."""
    if not url:
        return settings.FRONTEND_URL + default_path
    allowed = {_origin(settings.FRONTEND_URL), *(_origin(o) for o in settings.CORS_ALLOWED_ORIGINS)}
    # Stripe redirects the browser there after payment: only our own front end, never an open redirect.
    if _origin(url) not in allowed:
        raise validation_error(field, "Must be a URL of the web app.")
    return url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _purchasable(plan_code: str, interval: str) -> tuple[Plan, str]:
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


def _quantity(plan: Plan, organization) -> int:
    return max(1, selectors.active_member_count(organization=organization)) if plan.per_seat else 1


@transaction.atomic
def checkout_start(
    *, organization, plan_code: str, interval: str, success_url: str | None, cancel_url: str | None, actor, request=None
) -> dict:
    """Open a Stripe Checkout Session subscribing the org to a plan: {checkout_url, session_id}."""
    plan, price_id = _purchasable(plan_code, interval)
    success_url = _frontend_url(success_url, default_path="/billing/success?session_id={CHECKOUT_SESSION_ID}", field="success_url")
    cancel_url = _frontend_url(cancel_url, default_path="/billing", field="cancel_url")
    account = account_for_update(organization=organization)
    if account.is_entitled() and account.provider == Subscription.Provider.STRIPE and account.stripe_subscription_id:
        raise conflict("The organization already has a subscription: change its plan instead.")
    if account.is_entitled() and account.provider == Subscription.Provider.MANUAL:
        raise conflict("The organization is billed outside Stripe until its manual subscription ends.")
    customer_id = customer_ensure(account=account, actor=actor, request=request)
    metadata = {"organization_id": str(organization.id), "plan": plan.code, "interval": interval}
    with gateway.errors():
        session = gateway.checkout_session_create(
            mode="subscription",
            customer=customer_id,
            client_reference_id=str(organization.id),
            line_items=[{"price": price_id, "quantity": _quantity(plan, organization)}],
            subscription_data={"metadata": metadata},
            metadata=metadata,
            success_url=success_url,
            cancel_url=cancel_url,
        )
    return {"checkout_url": session["url"], "session_id": session["id"]}


@transaction.atomic
def portal_open(*, organization, return_url: str | None, actor, request=None) -> dict:
    """Open a Stripe Customer Portal session: {portal_url}."""
    return_url = _frontend_url(return_url, default_path="/billing", field="return_url")
    account = account_for_update(organization=organization)
    customer_id = customer_ensure(account=account, actor=actor, request=request)
    with gateway.errors():
        session = gateway.portal_session_create(customer_id=customer_id, return_url=return_url)
    return {"portal_url": session["url"]}


# --- applying Stripe subscription state ----------------------------------------------------------------


def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _id_of(value) -> str | None:
    if isinstance(value, str):
        return value
    return (value or {}).get("id")


def subscription_facts(data: dict) -> dict:
    """What we keep of a Stripe subscription (whichever API version shaped it)."""
    items = (data.get("items") or {}).get("data") or []
    item = items[0] if items else {}
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
        "current_period_end": _timestamp(data.get("current_period_end") or item.get("current_period_end")),
        "cancel_at_period_end": scheduled and status not in (Subscription.Status.CANCELED,),
        "plan_hint": (data.get("metadata") or {}).get("plan"),
    }


def subscription_apply(
    *,
    account: Subscription,
    data: dict,
    version: datetime,
    actor=None,
    request=None,
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
    old = _snapshot(account)
    account.provider = Subscription.Provider.STRIPE
    account.status = facts["status"]
    account.plan = plan if entitled else _free_plan_row()
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
    with gateway.errors():
        dj.Subscription.sync_from_stripe_data(gateway.as_stripe_object(data), api_key=gateway.api_key())
    _record_change(account=account, old=old, action=action, actor=actor, request=request, metadata=metadata, always=always)
    return True, "applied"


def _snapshot(account: Subscription) -> dict[str, Any]:
    return {
        "plan": account.plan.code if account.plan_id else None,
        "status": account.status,
        "provider": account.provider or None,
        "interval": account.interval or None,
        "cancel_at_period_end": account.cancel_at_period_end,
        "current_period_end": account.current_period_end,
        "active_until": account.active_until,
        "seats": account.seats,
    }


def _record_change(*, account: Subscription, old: dict, action: str = "subscription.changed", actor=None, request=None, metadata=None, always=False):
    new = _snapshot(account)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    if changes or always:
        event_record(
            action=action,
            actor=actor,
            organization_id=account.organization_id,
            target=account,
            changes=changes,
            metadata=metadata or {},
            request=request,
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
        lambda: hooks.call(hooks.NOTIFY, None, event="subscription_changed", user=owner, organization=organization, context=context),
        robust=True,
    )


def _now_version() -> datetime:
    return clock.now()


def _stripe_account(organization) -> Subscription:
    account = account_for_update(organization=organization)
    if account.provider != Subscription.Provider.STRIPE or not account.stripe_subscription_id or not account.is_entitled():
        if account.provider == Subscription.Provider.MANUAL and account.is_entitled():
            raise conflict("The organization is billed outside Stripe (manual subscription).")
        raise conflict("The organization has no active Stripe subscription: start one with checkout.")
    return account


def _item_id(subscription: dict) -> str:
    items = (subscription.get("items") or {}).get("data") or []
    if not items:
        raise gateway.unavailable("The Stripe subscription has no items.")
    return items[0]["id"]


@transaction.atomic
def subscription_change_plan(
    *, organization, plan_code: str, interval: str | None, actor, proration_date: int | None = None, request=None
) -> Subscription:
    """Move the org's Stripe subscription to another plan/interval, prorating the difference."""
    account = _stripe_account(organization)
    interval = interval or account.interval or catalog.Interval.MONTH
    plan, price_id = _purchasable(plan_code, interval)
    if plan.id == account.plan_id and interval == account.interval:
        raise validation_error("plan", "The organization is already on this plan.")
    with gateway.errors():
        current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
        params: dict[str, Any] = {
            "items": [{"id": _item_id(current), "price": price_id, "quantity": _quantity(plan, organization)}],
            "proration_behavior": "create_prorations",
            "cancel_at_period_end": False,
            "metadata": {"organization_id": str(organization.id), "plan": plan.code, "interval": interval},
        }
        if proration_date:
            params["proration_date"] = proration_date
        updated = gateway.as_dict(gateway.subscription_modify(account.stripe_subscription_id, **params))
    subscription_apply(account=account, data=updated, version=_now_version(), authoritative=True, actor=actor, request=request)
    return account


def subscription_preview_change(*, organization, plan_code: str, interval: str | None) -> dict:
    """What changing plan would cost now (Stripe's invoice preview with prorations); writes nothing."""
    account = selectors.subscription_of(organization=organization)
    if account is None or account.provider != Subscription.Provider.STRIPE or not account.is_entitled():
        raise conflict("The organization has no active Stripe subscription: start one with checkout.")
    interval = interval or account.interval or catalog.Interval.MONTH
    plan, price_id = _purchasable(plan_code, interval)
    proration_date = int(clock.now().timestamp())
    with gateway.errors():
        current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
        preview = gateway.as_dict(
            gateway.invoice_preview(
                customer=account.stripe_customer_id,
                subscription=account.stripe_subscription_id,
                subscription_details={
                    "items": [{"id": _item_id(current), "price": price_id, "quantity": _quantity(plan, organization)}],
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
                "proration": bool(
                    line.get("proration")
                    or ((line.get("parent") or {}).get("subscription_item_details") or {}).get("proration")
                ),
                "period_start": _timestamp((line.get("period") or {}).get("start")),
                "period_end": _timestamp((line.get("period") or {}).get("end")),
            }
            for line in lines
        ],
    }


@transaction.atomic
def subscription_cancel(*, organization, immediately: bool, actor, request=None) -> Subscription:
    """Cancel at the end of the period (or now): the org keeps its plan until then, then is on free."""
    account = account_for_update(organization=organization)
    if not account.is_entitled() or not account.provider:
        raise conflict("The organization has no subscription to cancel.")
    audit = {"action": "subscription.cancelled", "actor": actor, "request": request, "metadata": {"immediately": immediately}}
    if account.provider == Subscription.Provider.MANUAL:
        old = _snapshot(account)
        if immediately:
            account.plan = _free_plan_row()
            account.status = Subscription.Status.CANCELED
            account.active_until = clock.now()
            account.current_period_end = account.active_until
        account.cancel_at_period_end = not immediately
        account.save()
        _record_change(account=account, old=old, always=True, **audit)
        return account
    with gateway.errors():
        if immediately:
            data = gateway.subscription_cancel(account.stripe_subscription_id)
        else:
            data = gateway.subscription_modify(account.stripe_subscription_id, cancel_at_period_end=True)
    subscription_apply(account=account, data=gateway.as_dict(data), version=_now_version(), authoritative=True, always=True, **audit)
    return account


@transaction.atomic
def subscription_reactivate(*, organization, actor, request=None) -> Subscription:
    """Undo a pending cancellation."""
    account = account_for_update(organization=organization)
    if not account.is_entitled() or not account.cancel_at_period_end:
        raise conflict("There is no pending cancellation to undo.")
    audit = {"action": "subscription.reactivated", "actor": actor, "request": request}
    if account.provider == Subscription.Provider.MANUAL:
        old = _snapshot(account)
        account.cancel_at_period_end = False
        account.save()
        _record_change(account=account, old=old, always=True, **audit)
        return account
    with gateway.errors():
        data = gateway.subscription_modify(account.stripe_subscription_id, cancel_at_period_end=False)
    subscription_apply(account=account, data=gateway.as_dict(data), version=_now_version(), authoritative=True, always=True, **audit)
    return account


@transaction.atomic
def subscription_seats_sync(*, organization, actor=None) -> bool:
    """Make a per-seat Stripe subscription's quantity the org's active member count; True when changed."""
    account = account_for_update(organization=organization)
    if account.provider != Subscription.Provider.STRIPE or not account.is_entitled() or not account.plan.per_seat:
        return False
    seats = _quantity(account.plan, organization)
    if account.seats == seats:
        return False
    with gateway.errors():
        current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
        data = gateway.subscription_modify(
            account.stripe_subscription_id,
            items=[{"id": _item_id(current), "quantity": seats}],
            proration_behavior="create_prorations",
        )
    subscription_apply(account=account, data=gateway.as_dict(data), version=_now_version(), authoritative=True, actor=actor, metadata={"reason": "seats"})
    return True


# --- manual provider ---------------------------------------------------------------------------------


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@transaction.atomic
def subscription_activate_manual(*, organization_id, plan_code: str, months: int, actor, request=None) -> Subscription:
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
    old = _snapshot(account)
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
    _record_change(
        account=account, old=old, action="subscription.activated", actor=actor, request=request, metadata={"months": months}, always=True
    )
    return account


@transaction.atomic
def manual_subscriptions_expire(*, now: datetime | None = None) -> int:
    """Downgrade manual subscriptions whose term ended to the free plan; return how many."""
    now = now or clock.now()
    free = _free_plan_row()
    expired = 0
    due = Subscription.objects.select_for_update(skip_locked=True).filter(
        provider=Subscription.Provider.MANUAL, active_until__lte=now, status__in=Subscription.ENTITLED
    )
    for account in due:
        old = _snapshot(account)
        account.plan = free
        account.status = Subscription.Status.EXPIRED
        account.cancel_at_period_end = False
        account.save()
        _record_change(account=account, old=old, action="subscription.expired")
        expired += 1
    return expired


# --- reconcile -------------------------------------------------------------------------------------------


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
    if not account.stripe_customer_id:
        return repairs
    with gateway.errors():
        remote = [gateway.as_dict(s) for s in gateway.subscription_list(customer_id=account.stripe_customer_id)]
    current = _pick_current(remote)
    if current is None:
        if account.is_entitled():
            repairs.append("no subscription at Stripe: downgrading to free")
            if not dry_run:
                old = _snapshot(account)
                account.plan = _free_plan_row()
                account.status = Subscription.Status.CANCELED
                account.stripe_state_at = _now_version()
                account.save()
                _record_change(account=account, old=old, metadata={"source": "reconcile"})
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
    }
    remote_state = {
        "subscription": facts["id"],
        "status": facts["status"],
        "plan": expected_plan,
        "cancel_at_period_end": facts["cancel_at_period_end"],
        "seats": facts["quantity"],
    }
    repairs += [f"{key}: local {local[key]!r}, Stripe {remote_state[key]!r}" for key in local if local[key] != remote_state[key]]
    if repairs and not dry_run:
        # Stripe's answer right now is the newest state there is.
        subscription_apply(account=account, data=current, version=_now_version(), authoritative=True, metadata={"source": "reconcile"})
    if not dry_run and facts["status"] in Subscription.ENTITLED and plan is not None and plan.per_seat:
        if subscription_seats_sync(organization=organization):
            repairs.append("seats synced to the member count")
    return repairs


# --- payments and payment methods ---------------------------------------------------------------------------


@transaction.atomic
def payment_refund(*, organization, payment_id: str, amount: int | None, reason: str | None, actor, request=None):
    """Refund an org's payment (all of it, or `amount` in the currency's minor unit)."""
    account = account_for_update(organization=organization)
    charge = selectors.payment_get(organization=organization, payment_id=payment_id)
    refundable = int(charge.stripe_data.get("amount", 0)) - int(charge.stripe_data.get("amount_refunded") or 0)
    if refundable <= 0:
        raise conflict("This payment is already fully refunded.")
    if amount is not None and amount > refundable:
        raise validation_error("amount", f"At most {refundable} can be refunded.")
    key = gateway.api_key()
    with gateway.errors():
        refund = charge.refund(
            amount=Decimal(amount) / 100 if amount is not None else None, reason=reason or None, api_key=key
        )
        charge = dj.Charge.sync_from_stripe_data(gateway.charge_retrieve(charge.id), api_key=key)
    event_record(
        action="payment.refunded",
        actor=actor,
        organization_id=account.organization_id,
        target_type="payment",
        target_id=charge.id,
        changes={"amount_refunded": [charge.stripe_data.get("amount_refunded", 0) - refund.amount, charge.stripe_data.get("amount_refunded", 0)]},
        metadata={"refund_id": refund.id, "reason": reason or ""},
        request=request,
    )
    return charge


@transaction.atomic
def payment_method_attach(*, organization, payment_method_id: str, set_default: bool, actor, request=None):
    """Attach a Stripe PaymentMethod (made by Stripe.js) to the org's customer; the first one becomes default."""
    account = account_for_update(organization=organization)
    customer_id = customer_ensure(account=account, actor=actor, request=request)
    key = gateway.api_key()
    with gateway.errors():
        method = dj.PaymentMethod.attach(payment_method_id, customer_id, api_key=key)
    if set_default or not selectors.default_payment_method_id(organization=organization):
        _default_set(customer_id=customer_id, payment_method_id=method.id)
    event_record(
        action="payment_method.attached",
        actor=actor,
        organization_id=organization.id,
        target_type="payment_method",
        target_id=method.id,
        request=request,
    )
    return method


def _default_set(*, customer_id: str, payment_method_id: str) -> None:
    with gateway.errors():
        customer = gateway.customer_set_default_payment_method(customer_id, payment_method_id)
        dj.Customer.sync_from_stripe_data(customer, api_key=gateway.api_key())


@transaction.atomic
def payment_method_set_default(*, organization, payment_method_id: str, actor, request=None):
    """Make one of the org's payment methods the default for its invoices."""
    account = account_for_update(organization=organization)
    method = selectors.payment_method_get(organization=organization, payment_method_id=payment_method_id)
    old = selectors.default_payment_method_id(organization=organization)
    _default_set(customer_id=account.stripe_customer_id, payment_method_id=method.id)
    event_record(
        action="payment_method.default_changed",
        actor=actor,
        organization_id=organization.id,
        target_type="payment_method",
        target_id=method.id,
        changes={"default_payment_method": [old, method.id]},
        request=request,
    )
    return method


@transaction.atomic
def payment_method_detach(*, organization, payment_method_id: str, actor, request=None) -> None:
    """Detach one of the org's payment methods from its customer."""
    account = account_for_update(organization=organization)
    method = selectors.payment_method_get(organization=organization, payment_method_id=payment_method_id)
    was_default = selectors.default_payment_method_id(organization=organization) == method.id
    key = gateway.api_key()
    with gateway.errors():
        dj.PaymentMethod.sync_from_stripe_data(gateway.payment_method_detach(method.id), api_key=key)
        if was_default:
            dj.Customer.sync_from_stripe_data(gateway.customer_retrieve(account.stripe_customer_id), api_key=key)
    event_record(
        action="payment_method.detached",
        actor=actor,
        organization_id=organization.id,
        target_type="payment_method",
        target_id=method.id,
        request=request,
    )


# --- usage ----------------------------------------------------------------------------------------------------


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
        updated = UsageCounter.objects.filter(organization=organization, metric=metric, period=period).update(
            count=F("count") + quantity
        )
        if not updated:
            try:
                with transaction.atomic():
                    UsageCounter.objects.create(organization=organization, metric=metric, period=period, count=quantity)
            except IntegrityError:
                UsageCounter.objects.filter(organization=organization, metric=metric, period=period).update(
                    count=F("count") + quantity
                )
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
    UsageCounter.objects.filter(organization=organization, metric=metric, period=period, count__gte=quantity).update(
        count=F("count") - quantity
    )
    return selectors.usage_count(organization=organization, metric=metric, period=period)

