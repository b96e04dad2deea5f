"""Routes under /api/v1/billing/ (org context from X-Org-ID or the token's active org)."""

from django.urls import path

from billing.api import addon_views, payment_views, views

app_name = "billing"

urlpatterns = [
    path("plans", views.PlanListView.as_view(), name="plans"),
    path("plans/compare", views.PlanCompareView.as_view(), name="plans-compare"),
    path("plans/<slug:code>", views.PlanDetailView.as_view(), name="plan-detail"),
    path("subscription", views.SubscriptionView.as_view(), name="subscription"),
    path("subscription/change-plan", views.ChangePlanView.as_view(), name="subscription-change-plan"),
    path("subscription/preview-change", views.PreviewChangeView.as_view(), name="subscription-preview-change"),
    path("subscription/cancel", views.CancelView.as_view(), name="subscription-cancel"),
    path("subscription/reactivate", views.ReactivateView.as_view(), name="subscription-reactivate"),
    path("subscription/auto-renew", views.AutoRenewView.as_view(), name="subscription-auto-renew"),
    path("add-ons", addon_views.AddOnListView.as_view(), name="add-ons"),
    path("add-ons/<slug:code>", addon_views.AddOnDetailView.as_view(), name="add-on-detail"),
    path("quote", addon_views.QuoteView.as_view(), name="quote"),
    path("subscriptions/activate", views.ActivateView.as_view(), name="subscriptions-activate"),
    path("checkout", views.CheckoutView.as_view(), name="checkout"),
    path("portal", views.PortalView.as_view(), name="portal"),
    path("usage", views.UsageView.as_view(), name="usage"),
    path("usage/check-limit", views.CheckLimitView.as_view(), name="usage-check-limit"),
    path("invoices", views.InvoiceListView.as_view(), name="invoices"),
    path("invoices/<str:id>", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("payments", payment_views.PaymentListView.as_view(), name="payments"),
    path("payments/<str:id>", payment_views.PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<str:id>/verify", payment_views.PaymentVerifyView.as_view(), name="payment-verify"),
    path("payments/<str:id>/refund", payment_views.PaymentRefundView.as_view(), name="payment-refund"),
    path("payment-methods", views.PaymentMethodListView.as_view(), name="payment-methods"),
    path("payment-methods/<str:id>", payment_views.PaymentMethodDetailView.as_view(), name="payment-method-detail"),
    path("payment-methods/<str:id>/set-default", views.PaymentMethodDefaultView.as_view(), name="payment-method-default"),
    path("webhooks/stripe", views.StripeWebhookView.as_view(), name="stripe-webhook"),
    path("webhooks/razorpay", payment_views.RazorpayWebhookView.as_view(), name="razorpay-webhook"),
]
