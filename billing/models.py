"""Plans and their entitlements, each org's subscription, Stripe webhook events and usage counters.

Stripe's own objects (customers, invoices, charges, payment methods...) live in dj-stripe's
models; rows here point at them by Stripe id.
"""

import uuid

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


class Subscription(models.Model):
    """An organization's billing state: its plan, who bills it (Stripe or manual) and until when."""

    # One row per organization, created the first time it is needed; an org without one is free.

    class Provider(models.TextChoices):
        STRIPE = "stripe"
        MANUAL = "manual"

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
