"""Routes under /api/v1/premium/ (org context from X-Org-ID or the token's active org)."""

from django.urls import path

from premium.api import views

app_name = "premium"

urlpatterns = [
    path("free-feature", views.FreeFeatureView.as_view(), name="free-feature"),
    path("analytics", views.AnalyticsView.as_view(), name="analytics"),
    path("white-label", views.WhiteLabelView.as_view(), name="white-label"),
]
