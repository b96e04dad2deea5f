"""Request and response shapes of add-ons and quotes. Amounts are in the currency's minor unit (cents)."""

from rest_framework import serializers

from billing import catalog
from billing.api.serializers import INTERVALS
from billing.models import AddOn
from billing.services.addons import MAX_QUANTITY
from billing.services.quotes import MAX_MONTHS
from core.serializers import ModelSerializer, Serializer

# --- add-ons -----------------------------------------------------------------------------------------


class AddOnPricesSerializer(Serializer):
    month = serializers.IntegerField(source="price_month", help_text="Monthly price per unit in cents.")
    year = serializers.IntegerField(source="price_year", help_text="Yearly price per unit in cents.")


class AddOnGrantsSerializer(Serializer):
    limits = serializers.DictField(source="grant_limits", child=serializers.IntegerField(), help_text="limit name -> added per unit")
    features = serializers.DictField(source="grant_features", child=serializers.BooleanField(), help_text="feature flag -> turned on")


class AddOnSerializer(ModelSerializer):
    prices = AddOnPricesSerializer(source="*", read_only=True)
    grants = AddOnGrantsSerializer(source="*", read_only=True)

    class Meta:
        model = AddOn
        fields = ["code", "name", "description", "prices", "currency", "grants"]


class AddOnCatalogSerializer(Serializer):
    data = AddOnSerializer(many=True)


class AddOnAddSerializer(Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1, help_text="Units held (posting again sets it).")


class AddOnHoldingSerializer(Serializer):
    code = serializers.SlugField(source="add_on.code")
    quantity = serializers.IntegerField()
    since = serializers.DateTimeField()


# --- quotes ----------------------------------------------------------------------------------------------


class QuoteAddOnSerializer(Serializer):
    code = serializers.SlugField()
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class QuoteSerializer(Serializer):
    plan = serializers.SlugField()
    interval = serializers.ChoiceField(choices=INTERVALS, default=catalog.Interval.MONTH)
    months = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_MONTHS, help_text="Without a running Stripe subscription: periods paid up front (yearly: 12, 24, 36)."
    )
    add_ons = QuoteAddOnSerializer(many=True, required=False, help_text="The add-ons wanted after the change; absent keeps the ones held.")


class QuoteRecurringSerializer(Serializer):
    amount = serializers.IntegerField()
    interval = serializers.ChoiceField(choices=INTERVALS)


class QuoteProrationSerializer(Serializer):
    credit = serializers.IntegerField(help_text="unused time of what runs now")
    charge = serializers.IntegerField(help_text="remaining time of what is quoted")


class QuoteLineSerializer(Serializer):
    description = serializers.CharField()
    amount = serializers.IntegerField()


class QuoteResponseSerializer(Serializer):
    currency = serializers.CharField()
    amount_due_now = serializers.IntegerField()
    recurring = QuoteRecurringSerializer()
    proration = QuoteProrationSerializer()
    lines = QuoteLineSerializer(many=True)
