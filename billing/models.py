"""Plans and their entitlements, each org's subscription, Stripe webhook events and usage counters.

Stripe's own objects (customers, invoices, charges, payment methods...) live in dj-stripe's
models; rows here point at them by Stripe id.
"""

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from billing import catalog
from core import clock
from core.models import OrgScopedQuerySet


class PlanQuerySet(models.QuerySet):
    def public(self):
        return self.filter(is_active=True).order_by("sort_order", "code")


class Plan(models.Model):
    """A plan: prices (in the currency's minor unit) and entitlements (limits and feature flags)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True, help_text="Listed publicly and purchasable.")
    sort_order = models.PositiveSmallIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    price_month = models.PositiveIntegerField(default=0, help_text="Monthly price in cents (per seat when per-seat).")
    price_year = models.PositiveIntegerField(default=0, help_text="Yearly price in cents (per seat when per-seat).")
    per_seat = models.BooleanField(default=False, help_text="Stripe quantity follows the number of active members.")
    # Limits: empty means unlimited.
    max_members = models.PositiveIntegerField(null=True, blank=True)
    max_api_keys = models.PositiveIntegerField(null=True, blank=True)
    max_integrations = models.PositiveIntegerField(null=True, blank=True)
    audit_retention_days = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    storage_mb = models.PositiveIntegerField(null=True, blank=True)
    ai_requests_per_month = models.PositiveIntegerField(null=True, blank=True)
    # Feature flags.
    custom_slug = models.BooleanField(default=False)
    sso = models.BooleanField(default=False)
    advanced_analytics = models.BooleanField(default=False)
    white_label = models.BooleanField(default=False)
    # Written by `manage.py billing_sync_plans`.
    stripe_product_id = models.CharField(max_length=255, blank=True)
    stripe_price_month_id = models.CharField(max_length=255, blank=True)
    stripe_price_year_id = models.CharField(max_length=255, blank=True)
    # Razorpay Subscriptions bill against a Razorpay plan per interval (also `billing_sync_plans`).
    razorpay_plan_month_id = models.CharField(max_length=255, blank=True)
    razorpay_plan_year_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_free(self) -> bool:
        return self.price_month == 0 and self.price_year == 0

    @property
    def limits(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in catalog.LIMITS}

    @property
    def features(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in catalog.FEATURES}

    def price_for(self, interval: str) -> int:
        return self.price_year if interval == catalog.Interval.YEAR else self.price_month

    def stripe_price_id_for(self, interval: str) -> str:
        return self.stripe_price_year_id if interval == catalog.Interval.YEAR else self.stripe_price_month_id

    def razorpay_plan_id_for(self, interval: str) -> str:
        return self.razorpay_plan_year_id if interval == catalog.Interval.YEAR else self.razorpay_plan_month_id


class Subscription(models.Model):
    """An organization's billing state: its plan, who bills it (Stripe or manual) and until when."""

    # One row per organization, created the first time it is needed; an org without one is free.

    class Provider(models.TextChoices):
        STRIPE = "stripe"
        MANUAL = "manual"
        RAZORPAY = "razorpay"

    class Status(models.TextChoices):
        ACTIVE = "active"
        TRIALING = "trialing"
        PAST_DUE = "past_due"
        UNPAID = "unpaid"
        CANCELED = "canceled"
        INCOMPLETE = "incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired"
        PAUSED = "paused"
        EXPIRED = "expired"  # a manual subscription whose active_until passed

    # Statuses that keep the plan's entitlements (past_due: Stripe is still retrying the payment).
    ENTITLED = frozenset({Status.ACTIVE, Status.TRIALING, Status.PAST_DUE})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.OneToOneField("organizations.Organization", on_delete=models.CASCADE, related_name="billing_subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    provider = models.CharField(max_length=10, choices=Provider.choices, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    interval = models.CharField(max_length=5, choices=[(i.value, i.value) for i in catalog.Interval], blank=True)
    stripe_customer_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_subscription_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # Manual provider: entitled until then (the beat task downgrades afterwards).
    active_until = models.DateTimeField(null=True, blank=True)
    seats = models.PositiveIntegerField(null=True, blank=True)
    # When the Stripe state held here was current (event `created`, or the time of our own API
    # call): an event older than this never overwrites it.
    stripe_state_at = models.DateTimeField(null=True, blank=True)
    # Razorpay provider: its subscription, and when the state held here was current (ordering guard).
    razorpay_subscription_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    razorpay_state_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["provider", "active_until"])]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.plan_id} ({self.status})"

    def is_entitled(self, now=None) -> bool:
        """Whether the org gets this row's plan right now."""
        if self.status not in self.ENTITLED:
            return False
        if self.provider == self.Provider.MANUAL:
            return self.active_until is not None and self.active_until > (now or clock.now())
        return True


class AddOnQuerySet(models.QuerySet):
    def public(self):
        return self.filter(is_active=True).order_by("sort_order", "code")


def _grant_limits_validate(value) -> None:
    if not isinstance(value, dict) or any(k not in catalog.LIMITS or type(v) is not int or v < 1 for k, v in value.items()):
        raise ValidationError(f"A mapping of limit names ({', '.join(catalog.LIMITS)}) to positive whole numbers added per unit.")


def _grant_features_validate(value) -> None:
    if not isinstance(value, dict) or any(k not in catalog.FEATURES or v is not True for k, v in value.items()):
        raise ValidationError(f"A mapping of feature flags ({', '.join(catalog.FEATURES)}) to true.")


class AddOn(models.Model):
    """Something bought on top of a paid plan: limit increments per unit and feature flags it turns on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True, help_text="Listed publicly and purchasable (subscribers keep a retired add-on).")
    sort_order = models.PositiveSmallIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    price_month = models.PositiveIntegerField(default=0, help_text="Monthly price per unit in cents.")
    price_year = models.PositiveIntegerField(default=0, help_text="Yearly price per unit in cents.")
    grant_limits = models.JSONField(default=dict, blank=True, validators=[_grant_limits_validate], help_text='Added per unit, e.g. {"max_members": 10}.')
    grant_features = models.JSONField(default=dict, blank=True, validators=[_grant_features_validate], help_text='Turned on, e.g. {"white_label": true}.')
    # Written by `manage.py billing_sync_plans`.
    stripe_product_id = models.CharField(max_length=255, blank=True)
    stripe_price_month_id = models.CharField(max_length=255, blank=True)
    stripe_price_year_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AddOnQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_free(self) -> bool:
        return self.price_month == 0 and self.price_year == 0

    def price_for(self, interval: str) -> int:
        return self.price_year if interval == catalog.Interval.YEAR else self.price_month

    def stripe_price_id_for(self, interval: str) -> str:
        return self.stripe_price_year_id if interval == catalog.Interval.YEAR else self.stripe_price_month_id


class SubscriptionAddOn(models.Model):
    """An add-on an organization holds (on a Stripe subscription: one subscription item)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="add_ons")
    add_on = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="holdings")
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    # Empty for the manual provider (recorded here only).
    stripe_subscription_item_id = models.CharField(max_length=255, blank=True)
    since = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["add_on__sort_order", "add_on__code"]
        constraints = [models.UniqueConstraint(fields=["subscription", "add_on"], name="billing_addon_once_per_subscription")]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.add_on_id} x{self.quantity}"


class WebhookEvent(models.Model):
    """A Stripe event as received: stored (unique on its Stripe id) before the webhook answers 2xx."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"  # not ours, not handled, or older than the state already applied
        FAILED = "failed"  # the last attempt raised; retried by the task

    DONE = frozenset({Status.PROCESSED, Status.IGNORED})

    id = models.BigAutoField(primary_key=True)
    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    # Stripe's `created` of the event: when the object was in the state `payload` shows.
    event_created = models.DateTimeField()
    payload = models.JSONField()
    organization = models.ForeignKey("organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=clock.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["object_id", "status", "event_created"])]

    def __str__(self) -> str:
        return f"{self.stripe_event_id} {self.type} ({self.status})"


class UsageCounter(models.Model):
    """How much of a metered thing an organization used in one calendar month."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=50, choices=[(m.value, m.value) for m in catalog.Metric])
    period = models.DateField(help_text="First day of the month counted.")
    count = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "metric", "period"], name="billing_usage_one_per_month")]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.metric} {self.period}: {self.count}"


class PaymentQuerySet(OrgScopedQuerySet):
    def pending(self):
        return self.filter(status=Payment.Status.PENDING)


class Payment(models.Model):
    """A one-off payment an org makes (not a subscription invoice), through Stripe Checkout or a Razorpay order."""

    class Provider(models.TextChoices):
        STRIPE = "stripe"
        RAZORPAY = "razorpay"

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REFUNDED = "refunded"  # fully refunded; a partial refund stays `succeeded` with `amount_refunded`

    # When two provider facts carry the same timestamp, the one further along the lifecycle wins.
    RANK = {Status.PENDING: 0, Status.FAILED: 1, Status.SUCCEEDED: 2, Status.REFUNDED: 3}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=10, choices=Provider.choices)
    amount = models.PositiveBigIntegerField(help_text="In the currency's minor unit.")
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    amount_refunded = models.PositiveBigIntegerField(default=0)
    checkout_url = models.URLField(max_length=2000, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    # Provider ids: unique, so a provider object maps to one payment (null while unknown).
    stripe_checkout_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_charge_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    razorpay_order_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    razorpay_payment_link_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    razorpay_payment_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # When the provider state held here was current: an older fact never overwrites it.
    provider_state_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True, help_text="When the provider first reported it paid.")

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"]), models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.id} {self.provider} {self.amount} {self.currency} ({self.status})"

    @property
    def refundable(self) -> int:
        return self.amount - self.amount_refunded if self.status == self.Status.SUCCEEDED else 0


class RazorpayWebhookEvent(models.Model):
    """A Razorpay webhook delivery as received: stored (unique on X-Razorpay-Event-Id) before the 2xx."""

    Status = WebhookEvent.Status
    DONE = WebhookEvent.DONE

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    account_id = models.CharField(max_length=255, blank=True)
    entity_type = models.CharField(max_length=64, blank=True)
    entity_id = models.CharField(max_length=255, blank=True)
    # The event's `created_at`: when the entity was in the state `payload` shows.
    event_created = models.DateTimeField()
    payload = models.JSONField()
    organization = models.ForeignKey("organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=WebhookEvent.Status.choices, default=WebhookEvent.Status.PENDING)
    note = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=clock.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["entity_id", "status", "event_created"])]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"
