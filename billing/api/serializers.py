"""Request and response shapes of the billing API. Amounts are in the currency's minor unit (cents)."""

from datetime import UTC, datetime

from rest_framework import serializers

from billing import catalog
from billing.models import Payment, Plan, Subscription
from core.serializers import ModelSerializer, QuerySerializer, Serializer

INTERVALS = [str(i) for i in catalog.Interval]


class UnixTimestampField(serializers.DateTimeField):
    """A Stripe timestamp (seconds since the epoch) shown as ISO-8601 UTC."""

    def to_representation(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(value, tz=UTC)
        return super().to_representation(value)


def _stripe(path: str, field_class=serializers.CharField, **kwargs):
    """A read-only field reading `stripe_data.<path>` of a dj-stripe row (null when absent)."""
    return field_class(source=f"stripe_data.{path}", read_only=True, allow_null=True, **kwargs)


# --- plans ------------------------------------------------------------------------------------------


class PlanPricesSerializer(Serializer):
    month = serializers.IntegerField(source="price_month", help_text="Monthly price in cents (per seat when per_seat).")
    year = serializers.IntegerField(source="price_year", help_text="Yearly price in cents (per seat when per_seat).")


class PlanLimitsSerializer(Serializer):
    max_members = serializers.IntegerField(allow_null=True, help_text="null = unlimited")
    max_api_keys = serializers.IntegerField(allow_null=True)
    max_integrations = serializers.IntegerField(allow_null=True)
    audit_retention_days = serializers.IntegerField(allow_null=True)
    storage_mb = serializers.IntegerField(allow_null=True)
    ai_requests_per_month = serializers.IntegerField(allow_null=True)


class PlanFeaturesSerializer(Serializer):
    custom_slug = serializers.BooleanField()
    sso = serializers.BooleanField()
    advanced_analytics = serializers.BooleanField()
    white_label = serializers.BooleanField()


class PlanSerializer(ModelSerializer):
    prices = PlanPricesSerializer(source="*", read_only=True)
    limits = PlanLimitsSerializer(source="*", read_only=True)
    features = PlanFeaturesSerializer(source="*", read_only=True)

    class Meta:
        model = Plan
        fields = ["code", "name", "description", "prices", "currency", "per_seat", "limits", "features"]


class PlanCatalogSerializer(Serializer):
    data = PlanSerializer(many=True)


class PlanCompareRowSerializer(Serializer):
    key = serializers.CharField(help_text="price_month, price_year, a limit name or a feature flag")
    type = serializers.ChoiceField(choices=["price", "limit", "feature"])
    values = serializers.DictField(child=serializers.JSONField(), help_text="plan code -> value (null = unlimited)")


class PlanCompareSerializer(Serializer):
    data = PlanCompareRowSerializer(many=True)


# --- subscription ----------------------------------------------------------------------------------------


class SubscriptionAddOnItemSerializer(Serializer):
    code = serializers.SlugField()
    quantity = serializers.IntegerField()
    since = serializers.DateTimeField()


class SubscriptionSerializer(Serializer):
    id = serializers.UUIDField(allow_null=True)
    plan = serializers.CharField()
    status = serializers.CharField(help_text=f"One of: {', '.join(Subscription.Status.values)}")
    provider = serializers.ChoiceField(choices=Subscription.Provider.choices, allow_null=True)
    interval = serializers.ChoiceField(choices=INTERVALS, allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    active_until = serializers.DateTimeField(allow_null=True, help_text="manual provider: entitled until then")
    seats = serializers.IntegerField(allow_null=True)
    add_ons = SubscriptionAddOnItemSerializer(many=True, help_text="add-ons held (they apply while the subscription does)")


class AutoRenewSerializer(Serializer):
    enabled = serializers.BooleanField(help_text="false: stop at the period end (cancel_at_period_end); true: renew.")


class CheckoutSerializer(Serializer):
    plan = serializers.SlugField()
    interval = serializers.ChoiceField(choices=INTERVALS, default=catalog.Interval.MONTH)
    success_url = serializers.URLField(required=False, max_length=2000, help_text="A URL of the web app (FRONTEND_URL).")
    cancel_url = serializers.URLField(required=False, max_length=2000, help_text="A URL of the web app (FRONTEND_URL).")
    provider = serializers.ChoiceField(
        choices=Payment.Provider.choices,
        default=Payment.Provider.STRIPE,
        help_text="razorpay: a Razorpay subscription; `checkout_url` is its authorisation page.",
    )


class CheckoutResponseSerializer(Serializer):
    checkout_url = serializers.URLField()
    session_id = serializers.CharField()


class PortalSerializer(Serializer):
    return_url = serializers.URLField(required=False, max_length=2000)


class PortalResponseSerializer(Serializer):
    portal_url = serializers.URLField()


class ChangePlanSerializer(Serializer):
    plan = serializers.SlugField()
    interval = serializers.ChoiceField(choices=INTERVALS, required=False)
    proration_date = serializers.IntegerField(required=False, min_value=1, help_text="The `proration_date` of a preview, to be charged exactly what it showed.")
    success_url = serializers.URLField(required=False, max_length=2000, help_text="From free (a checkout): a URL of the web app (FRONTEND_URL).")
    cancel_url = serializers.URLField(required=False, max_length=2000, help_text="From free (a checkout): a URL of the web app (FRONTEND_URL).")


class PreviewQuerySerializer(QuerySerializer):
    plan = serializers.SlugField()
    interval = serializers.ChoiceField(choices=INTERVALS, required=False)


class PreviewLineSerializer(Serializer):
    description = serializers.CharField()
    amount = serializers.IntegerField()
    proration = serializers.BooleanField()
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)


class PreviewSerializer(Serializer):
    plan = serializers.CharField()
    interval = serializers.ChoiceField(choices=INTERVALS)
    currency = serializers.CharField()
    amount_due = serializers.IntegerField()
    subtotal = serializers.IntegerField()
    total = serializers.IntegerField()
    proration_date = serializers.IntegerField()
    lines = PreviewLineSerializer(many=True)


class CancelSerializer(Serializer):
    immediately = serializers.BooleanField(default=False)


class ActivateSerializer(Serializer):
    organization_id = serializers.UUIDField()
    plan = serializers.SlugField()
    provider = serializers.ChoiceField(choices=[Subscription.Provider.MANUAL.value])
    months = serializers.IntegerField(min_value=1, max_value=36)


class ActivateResponseSerializer(Serializer):
    subscription_id = serializers.UUIDField(source="id")
    active_until = serializers.DateTimeField()
    provider = serializers.CharField()


# --- usage -------------------------------------------------------------------------------------------------


class UsageItemSerializer(Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField(allow_null=True, help_text="null = unlimited")


class UsageSerializer(Serializer):
    members = UsageItemSerializer(help_text="active members + pending invitations")
    api_keys = UsageItemSerializer()
    integrations = UsageItemSerializer()
    storage_mb = UsageItemSerializer()
    ai_requests = UsageItemSerializer(help_text="this calendar month")


class CheckLimitSerializer(Serializer):
    feature = serializers.ChoiceField(choices=list(catalog.USAGE_LIMITS))


class CheckLimitResponseSerializer(UsageItemSerializer):
    allowed = serializers.BooleanField(help_text="whether one more fits the plan")


# --- Stripe records ----------------------------------------------------------------------------------------


class InvoiceSerializer(Serializer):
    id = serializers.CharField()
    number = _stripe("number")
    status = _stripe("status")
    currency = _stripe("currency")
    amount_due = _stripe("amount_due", serializers.IntegerField)
    amount_paid = _stripe("amount_paid", serializers.IntegerField)
    amount_remaining = _stripe("amount_remaining", serializers.IntegerField)
    subtotal = _stripe("subtotal", serializers.IntegerField)
    total = _stripe("total", serializers.IntegerField)
    created = serializers.DateTimeField(allow_null=True)
    period_start = _stripe("period_start", UnixTimestampField)
    period_end = _stripe("period_end", UnixTimestampField)
    due_date = _stripe("due_date", UnixTimestampField)
    hosted_invoice_url = _stripe("hosted_invoice_url")
    invoice_pdf = _stripe("invoice_pdf")


class PaymentSerializer(Serializer):
    id = serializers.CharField(help_text="A Stripe charge id (`ch_...`, kind `charge`) or our UUID (kind `one_off`).")
    kind = serializers.ChoiceField(choices=["charge", "one_off"], help_text="`charge`: a Stripe charge (invoices); `one_off`: a one-off payment.")
    provider = serializers.ChoiceField(choices=Payment.Provider.choices)
    amount = serializers.IntegerField(allow_null=True, help_text="In the currency's minor unit.")
    amount_refunded = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="one_off: pending|succeeded|failed|refunded; charge: Stripe's (succeeded|pending|failed).")
    paid = serializers.BooleanField(allow_null=True)
    refunded = serializers.BooleanField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    receipt_url = serializers.CharField(allow_null=True)
    payment_method = serializers.CharField(allow_null=True)
    card_brand = serializers.CharField(allow_null=True)
    card_last4 = serializers.CharField(allow_null=True)
    checkout_url = serializers.CharField(allow_null=True, help_text="A pending one-off payment: where the payer pays.")
    created = serializers.DateTimeField(allow_null=True)
    settled_at = serializers.DateTimeField(allow_null=True)


class PaymentCreateSerializer(Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=99_999_999, help_text="In the currency's minor unit (cents, paise).")
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217 code, e.g. usd, inr.")
    description = serializers.CharField(max_length=255)
    success_url = serializers.URLField(max_length=2000, help_text="A URL of the web app (FRONTEND_URL).")
    cancel_url = serializers.URLField(max_length=2000, help_text="A URL of the web app (FRONTEND_URL).")
    provider = serializers.ChoiceField(choices=Payment.Provider.choices, default=Payment.Provider.STRIPE)


class PaymentCreatedSerializer(Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    checkout_url = serializers.URLField(
        help_text="Stripe: the hosted Checkout page. Razorpay: the web app's pay page carrying `order_id` and `key_id` for Razorpay Checkout."
    )


class RefundSerializer(Serializer):
    amount = serializers.IntegerField(required=False, min_value=1, help_text="In cents; the whole remaining amount when absent.")
    reason = serializers.ChoiceField(choices=["duplicate", "fraudulent", "requested_by_customer"], required=False)


class PaymentMethodSerializer(Serializer):
    id = serializers.CharField()
    type = _stripe("type")
    brand = _stripe("card.brand")
    last4 = _stripe("card.last4")
    exp_month = _stripe("card.exp_month", serializers.IntegerField)
    exp_year = _stripe("card.exp_year", serializers.IntegerField)
    created = serializers.DateTimeField(allow_null=True)
    is_default = serializers.SerializerMethodField()

    def get_is_default(self, method) -> bool:
        return method.id == self.context.get("default_payment_method_id")


class PaymentMethodListSerializer(Serializer):
    data = PaymentMethodSerializer(many=True)


class PaymentMethodAttachSerializer(Serializer):
    payment_method_id = serializers.RegexField(r"^pm_[A-Za-z0-9_]+$", max_length=255, help_text="A Stripe PaymentMethod id (pm_...) made by Stripe.js.")
    set_default = serializers.BooleanField(default=False)
