"""Reads: plans, each org's effective plan and entitlements, usage, and its Stripe records."""

from datetime import date

from django.db.models import QuerySet
from django.http import Http404
from djstripe import models as dj

from billing import catalog
from billing.models import Plan, Subscription, UsageCounter
from core import clock, hooks

# --- plans ------------------------------------------------------------------------------------


def plan_list() -> QuerySet[Plan]:
    """Plans offered publicly, cheapest first."""
    return Plan.objects.public()


def plan_get(*, code: str) -> Plan:
    """A public plan by code (404 otherwise)."""
    plan = Plan.objects.public().filter(code=code).first()
    if plan is None:
        raise Http404("No such plan.")
    return plan


def plan_free() -> Plan:
    """The free plan (the catalog's defaults, unsaved, when its row is missing)."""
    plan = Plan.objects.filter(code=catalog.FREE).first()
    if plan is not None:
        return plan
    defaults = next(p for p in catalog.DEFAULT_PLANS if p["code"] == catalog.FREE)
    fields = {k: v for k, v in defaults.items() if k not in ("limits", "features")}
    return Plan(**fields, **defaults["limits"], **defaults["features"])


def plan_compare() -> list[dict]:
    """One row per price, limit and feature flag, with each public plan's value."""
    plans = list(plan_list())
    rows = [{"key": f"price_{interval}", "type": "price", "values": {p.code: p.price_for(interval) for p in plans}} for interval in catalog.Interval]
    rows += [{"key": name, "type": "limit", "values": {p.code: getattr(p, name) for p in plans}} for name in catalog.LIMITS]
    rows += [{"key": name, "type": "feature", "values": {p.code: getattr(p, name) for p in plans}} for name in catalog.FEATURES]
    return rows


# --- an organization's plan -----------------------------------------------------------------------


def subscription_of(*, organization) -> Subscription | None:
    """The org's billing row, with its plan (None: never subscribed, so free)."""
    return Subscription.objects.select_related("plan").filter(organization=organization).first()


def plan_of(*, organization) -> Plan:
    """The plan whose entitlements the org has right now."""
    subscription = subscription_of(organization=organization)
    if subscription is not None and subscription.is_entitled():
        return subscription.plan
    return plan_free()


def limit_of(*, organization, name: str) -> int | None:
    """The org's limit for `name` (None = unlimited, also for names billing does not know)."""
    if name not in catalog.LIMITS:
        return None
    return getattr(plan_of(organization=organization), name)


def feature_of(*, organization, name: str) -> bool:
    """Whether the org's plan has a feature flag (unknown flags: no)."""
    if name not in catalog.FEATURES:
        return False
    return bool(getattr(plan_of(organization=organization), name))


def subscription_state(*, organization) -> dict:
    """What GET subscription shows: free and active when the org never subscribed."""
    subscription = subscription_of(organization=organization)
    if subscription is None:
        return {
            "id": None,
            "plan": catalog.FREE,
            "status": Subscription.Status.ACTIVE,
            "provider": None,
            "interval": None,
            "current_period_end": None,
            "cancel_at_period_end": False,
            "active_until": None,
            "seats": None,
        }
    entitled = subscription.is_entitled()
    return {
        "id": subscription.id,
        "plan": subscription.plan.code if entitled else catalog.FREE,
        "status": subscription.status if entitled or subscription.status not in Subscription.ENTITLED else "expired",
        "provider": subscription.provider or None,
        "interval": subscription.interval or None,
        "current_period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "active_until": subscription.active_until,
        "seats": subscription.seats,
    }


# --- usage ------------------------------------------------------------------------------------------


def month_start(day: date | None = None) -> date:
    """First day of the month holding `day` (today by default)."""
    return (day or clock.now().date()).replace(day=1)


def usage_count(*, organization, metric: str, period: date | None = None) -> int:
    """How much of a metered thing the org used in a month (this one by default)."""
    row = UsageCounter.objects.filter(organization=organization, metric=metric, period=period or month_start()).values_list("count", flat=True).first()
    return row or 0


def members_used(*, organization) -> int:
    """Seats the member limit counts: active members plus pending invitations."""
    from organizations.invites import members_used as organization_members_used

    return organization_members_used(organization)


def active_member_count(*, organization) -> int:
    """Active members (the quantity of a per-seat plan)."""
    from organizations.models import Membership

    return Membership.objects.for_organization(organization).active().count()


def usage_used(*, organization) -> dict[str, int]:
    """What the org holds of each usage key."""
    from permissions.apikeys import api_key_active_count

    reported: dict[str, int] = {}
    # Apps above billing's reach (integrations, documents) report their counts through this hook.
    for contribution in hooks.usage_counts(organization=organization):
        for key, value in (contribution or {}).items():
            reported[key] = reported.get(key, 0) + int(value or 0)
    return {
        "members": members_used(organization=organization),
        "api_keys": api_key_active_count(organization=organization),
        "integrations": reported.get("integrations", 0),
        "storage_mb": reported.get("storage_mb", 0),
        "ai_requests": usage_count(organization=organization, metric=catalog.Metric.AI_REQUESTS),
    }


def usage_summary(*, organization) -> dict[str, dict]:
    """{key: {used, limit}} for every usage key."""
    plan = plan_of(organization=organization)
    used = usage_used(organization=organization)
    return {key: {"used": used[key], "limit": getattr(plan, limit)} for key, limit in catalog.USAGE_LIMITS.items()}


def usage_check(*, organization, key: str) -> dict:
    """{allowed, used, limit}: whether one more of `key` fits the plan."""
    item = usage_summary(organization=organization)[key]
    limit = item["limit"]
    return {"allowed": limit is None or item["used"] + 1 <= limit, **item}


# --- Stripe records (dj-stripe models), scoped by the org's Stripe customer ----------------------------


def customer_id_of(*, organization) -> str | None:
    return Subscription.objects.filter(organization=organization).values_list("stripe_customer_id", flat=True).first()


def invoice_list(*, organization) -> QuerySet:
    """The org's invoices, newest first (none before it has a Stripe customer)."""
    customer_id = customer_id_of(organization=organization)
    if not customer_id:
        return dj.Invoice.objects.none()
    return dj.Invoice.objects.filter(customer_id=customer_id).order_by("-created", "-djstripe_id")


def invoice_get(*, organization, invoice_id: str):
    """One of the org's invoices by Stripe id (404 for anyone else's)."""
    invoice = invoice_list(organization=organization).filter(id=invoice_id).first()
    if invoice is None:
        raise Http404("No such invoice.")
    return invoice


def payment_list(*, organization) -> QuerySet:
    """The org's payments (Stripe charges), newest first."""
    customer_id = customer_id_of(organization=organization)
    if not customer_id:
        return dj.Charge.objects.none()
    return dj.Charge.objects.filter(customer_id=customer_id).order_by("-created", "-djstripe_id")


def payment_get(*, organization, payment_id: str):
    """One of the org's payments by Stripe id (404 for anyone else's)."""
    charge = payment_list(organization=organization).filter(id=payment_id).first()
    if charge is None:
        raise Http404("No such payment.")
    return charge


def payment_method_list(*, organization) -> QuerySet:
    """Payment methods attached to the org's Stripe customer."""
    customer_id = customer_id_of(organization=organization)
    if not customer_id:
        return dj.PaymentMethod.objects.none()
    return dj.PaymentMethod.objects.filter(customer_id=customer_id).order_by("-created", "-djstripe_id")


def payment_method_get(*, organization, payment_method_id: str):
    """One of the org's payment methods by Stripe id (404 for anyone else's)."""
    method = payment_method_list(organization=organization).filter(id=payment_method_id).first()
    if method is None:
        raise Http404("No such payment method.")
    return method


def default_payment_method_id(*, organization) -> str | None:
    customer_id = customer_id_of(organization=organization)
    if not customer_id:
        return None
    return dj.Customer.objects.filter(id=customer_id).values_list("default_payment_method_id", flat=True).first()
