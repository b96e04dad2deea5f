"""Staff admin: plans are edited here; subscriptions and webhook events are read-mostly (actions call services)."""

from django.contrib import admin, messages

from billing import (
    admin_djstripe,  # noqa: F401  (re-registers dj-stripe's pages, see the module)
    catalog,
)
from billing.models import AddOn, Plan, Subscription, SubscriptionAddOn, UsageCounter, WebhookEvent
from billing.services.plans import addon_sync_stripe, plan_sync_stripe
from billing.services.reconcile import subscription_reconcile
from core.admin import ReadOnlyAdmin


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "price_month", "price_year", "currency", "per_seat", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    search_fields = ["code", "name"]
    readonly_fields = ["stripe_product_id", "stripe_price_month_id", "stripe_price_year_id", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "is_active", "sort_order"]}),
        ("Prices (cents)", {"fields": ["currency", "price_month", "price_year", "per_seat"]}),
        ("Limits (empty = unlimited)", {"fields": list(catalog.LIMITS)}),
        ("Features", {"fields": list(catalog.FEATURES)}),
        ("Stripe (billing_sync_plans)", {"fields": readonly_fields}),
    ]
    actions = ["sync_to_stripe"]

    @admin.action(description="Create/update the Stripe Product and Prices")
    def sync_to_stripe(self, request, queryset):
        for plan in queryset:
            if plan.is_free:
                continue
            result = plan_sync_stripe(plan=plan)
            self.message_user(request, f"{plan.code}: {result}", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Subscriptions reference plans; retire a plan with is_active instead.
        return False


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "price_month", "price_year", "currency", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    search_fields = ["code", "name"]
    readonly_fields = ["stripe_product_id", "stripe_price_month_id", "stripe_price_year_id", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "is_active", "sort_order"]}),
        ("Prices per unit (cents)", {"fields": ["currency", "price_month", "price_year"]}),
        ("Grants", {"fields": ["grant_limits", "grant_features"]}),
        ("Stripe (billing_sync_plans)", {"fields": readonly_fields}),
    ]
    actions = ["sync_to_stripe"]

    @admin.action(description="Create/update the Stripe Product and Prices")
    def sync_to_stripe(self, request, queryset):
        for add_on in queryset:
            if add_on.is_free:
                continue
            result = addon_sync_stripe(add_on=add_on)
            self.message_user(request, f"{add_on.code}: {result}", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Organizations hold add-ons; retire one with is_active instead.
        return False


@admin.register(SubscriptionAddOn)
class SubscriptionAddOnAdmin(ReadOnlyAdmin):
    list_display = ["organization", "add_on", "quantity", "since", "stripe_subscription_item_id"]
    list_filter = ["add_on"]
    search_fields = ["organization__name", "organization__slug", "stripe_subscription_item_id"]
    list_select_related = ["organization", "add_on"]


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["organization", "plan", "provider", "status", "current_period_end", "cancel_at_period_end"]
    list_filter = ["provider", "status", "plan"]
    search_fields = ["organization__name", "organization__slug", "stripe_customer_id", "stripe_subscription_id"]
    list_select_related = ["organization", "plan"]
    # Changes go through services (Stripe first, audit recorded): the admin only shows rows.
    actions = ["reconcile"]

    @admin.action(description="Reconcile with Stripe")
    def reconcile(self, request, queryset):
        for account in queryset.select_related("organization"):
            repairs = subscription_reconcile(organization=account.organization)
            self.message_user(request, f"{account.organization}: {', '.join(repairs) or 'in sync'}")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["stripe_event_id", "type", "status", "attempts", "received_at"]
    list_filter = ["status", "type"]
    search_fields = ["stripe_event_id", "object_id"]
    actions = ["reprocess"]

    @admin.action(description="Process again (failed or pending events only)")
    def reprocess(self, request, queryset):
        from billing.tasks import process_stripe_event

        for event in queryset.exclude(status__in=WebhookEvent.DONE):
            process_stripe_event.delay(event.id)


@admin.register(UsageCounter)
class UsageCounterAdmin(admin.ModelAdmin):
    list_display = ["organization", "metric", "period", "count"]
    list_filter = ["metric", "period"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
