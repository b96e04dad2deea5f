"""Reads: plans and add-ons, each org's effective plan and entitlements, usage, and its Stripe records."""

import uuid
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from djstripe import models as dj

from billing import catalog
from billing.models import AddOn, Payment, Plan, Subscription, SubscriptionAddOn, UsageCounter
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


# --- add-ons ------------------------------------------------------------------------------------


def addon_list() -> QuerySet[AddOn]:
    """Add-ons offered publicly, in catalog order."""
    return AddOn.objects.public()


# --- an organization's plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entitlements:
    """What an org may use: its plan plus the add-ons it holds."""

    plan: Plan
    add_ons: tuple[SubscriptionAddOn, ...] = field(default=())

    def limit(self, name: str) -> int | None:
        """The plan's limit plus every add-on's increment times its quantity (None = unlimited)."""
        base = getattr(self.plan, name)
        if base is None:
            return None
        return base + sum(int(held.add_on.grant_limits.get(name, 0)) * held.quantity for held in self.add_ons)

    def feature(self, name: str) -> bool:
        return bool(getattr(self.plan, name)) or any(held.add_on.grant_features.get(name) for held in self.add_ons)

    @property
    def limits(self) -> dict[str, int | None]:
        return {name: self.limit(name) for name in catalog.LIMITS}

    @property
    def features(self) -> dict[str, bool]:
        return {name: self.feature(name) for name in catalog.FEATURES}


def subscription_of(*, organization) -> Subscription | None:
    """The org's billing row, with its plan and add-ons (None: never subscribed, so free)."""
    # Two queries whatever the number of add-ons: the row with its plan, then its add-ons with theirs.
    held = Prefetch("add_ons", queryset=SubscriptionAddOn.objects.select_related("add_on"))
    return Subscription.objects.select_related("plan").prefetch_related(held).filter(organization=organization).first()


def entitlements_of(*, organization) -> Entitlements:
    """The org's plan and add-ons when its subscription is entitled, else the free plan alone."""
    subscription = subscription_of(organization=organization)
    if subscription is not None and subscription.is_entitled():
        return Entitlements(plan=subscription.plan, add_ons=tuple(subscription.add_ons.all()))
    return Entitlements(plan=plan_free())


def plan_of(*, organization) -> Plan:
    """The plan whose entitlements the org has right now (add-ons aside: see `entitlements_of`)."""
    return entitlements_of(organization=organization).plan


def limit_of(*, organization, name: str) -> int | None:
    """The org's limit for `name`, add-ons included (None = unlimited, also for names billing does not know)."""
    if name not in catalog.LIMITS:
        return None
    return entitlements_of(organization=organization).limit(name)


def feature_of(*, organization, name: str) -> bool:
    """Whether the org's plan or one of its add-ons has a feature flag (unknown flags: no)."""
    if name not in catalog.FEATURES:
        return False
    return entitlements_of(organization=organization).feature(name)


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
            "add_ons": [],
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
        # Add-ons apply only while the subscription does.
        "add_ons": [{"code": held.add_on.code, "quantity": held.quantity, "since": held.since} for held in subscription.add_ons.all()] if entitled else [],
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
    entitled = entitlements_of(organization=organization)
    used = usage_used(organization=organization)
    return {key: {"used": used[key], "limit": entitled.limit(limit)} for key, limit in catalog.USAGE_LIMITS.items()}


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


# --- one-off payments, and the list merging them with the charges ------------------------------------------


def oneoff_list(*, organization) -> QuerySet[Payment]:
    """The org's one-off payments, newest first."""
    return Payment.objects.for_organization(organization).order_by("-created_at", "-id")


def oneoff_get(*, organization, payment_id) -> Payment:
    """One of the org's one-off payments (404 for anyone else's)."""
    payment = oneoff_list(organization=organization).filter(id=payment_id).first()
    if payment is None:
        raise Http404("No such payment.")
    return payment


def is_uuid(value: str) -> bool:
    """Whether a payments path id is one of ours (a one-off payment), not a Stripe charge id."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def charge_item(charge) -> dict:
    """A dj-stripe charge as a payments-list item (`kind: charge`; its id is Stripe's `ch_...`)."""
    data = charge.stripe_data or {}
    card = (data.get("payment_method_details") or {}).get("card") or {}
    return {
        "id": charge.id,
        "kind": "charge",
        "provider": "stripe",
        "amount": data.get("amount"),
        "amount_refunded": data.get("amount_refunded"),
        "currency": data.get("currency"),
        "status": data.get("status"),
        "paid": data.get("paid"),
        "refunded": data.get("refunded"),
        "description": data.get("description"),
        "receipt_url": data.get("receipt_url"),
        "payment_method": data.get("payment_method"),
        "card_brand": card.get("brand"),
        "card_last4": card.get("last4"),
        "checkout_url": None,
        "created": charge.created,
        "settled_at": charge.created if data.get("paid") else None,
    }


def oneoff_item(payment: Payment) -> dict:
    """A one-off payment as a payments-list item (`kind: one_off`; its id is our UUID)."""
    settled = payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)
    return {
        "id": str(payment.id),
        "kind": "one_off",
        "provider": payment.provider,
        "amount": payment.amount,
        "amount_refunded": payment.amount_refunded,
        "currency": payment.currency,
        "status": payment.status,
        "paid": settled,
        "refunded": payment.status == Payment.Status.REFUNDED,
        "description": payment.description,
        "receipt_url": None,
        "payment_method": None,
        "card_brand": None,
        "card_last4": None,
        "checkout_url": payment.checkout_url if payment.status == Payment.Status.PENDING else None,
        "created": payment.created_at,
        "settled_at": payment.settled_at,
    }


class PaymentFeed:
    """Charges and one-off payments as one newest-first sequence the paginator can slice and count.

    A slice [a:b] reads the first b rows of each side (two queries) and merges them: the first
    pages, the ones people look at, stay cheap.
    """

    def __init__(self, *, charges: QuerySet, oneoffs: QuerySet):
        self.charges, self.oneoffs = charges, oneoffs

    def count(self) -> int:
        return self.charges.count() + self.oneoffs.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key):
        if not isinstance(key, slice):
            return self[key : key + 1][0]
        start, stop = key.start or 0, key.stop
        if stop is None:
            stop = self.count()
        items = [charge_item(c) for c in self.charges[:stop]] + [oneoff_item(p) for p in self.oneoffs[:stop]]
        items.sort(key=lambda item: (item["created"], item["id"]), reverse=True)
        return items[start:stop]


def payment_feed(*, organization) -> PaymentFeed:
    """The org's payments: Stripe charges and one-off payments (a one-off's charge is shown once, as the one-off)."""
    oneoffs = oneoff_list(organization=organization)
    charges = payment_list(organization=organization).exclude(
        id__in=Payment.objects.for_organization(organization).filter(stripe_charge_id__isnull=False).values("stripe_charge_id")
    )
    return PaymentFeed(charges=charges, oneoffs=oneoffs)


def payment_item(*, organization, payment_id: str) -> dict:
    """One of the org's payments as a list item: a UUID is a one-off payment, else a Stripe charge id."""
    if is_uuid(payment_id):
        return oneoff_item(oneoff_get(organization=organization, payment_id=payment_id))
    return charge_item(payment_get(organization=organization, payment_id=payment_id))


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
