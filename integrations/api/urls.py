"""Integrations routes under /api/v1/integrations (org from X-Org-ID or the token; no trailing slash)."""

from django.urls import path

from integrations.api import views

app_name = "integrations"

urlpatterns = [
    path("integrations", views.IntegrationListView.as_view(), name="list"),
    path("integrations/providers", views.ProviderListView.as_view(), name="providers"),
    path("integrations/connect", views.ConnectView.as_view(), name="connect"),
    path("integrations/logs", views.IntegrationLogView.as_view(), name="logs"),
    path("integrations/oauth/<slug:key>/start", views.OAuthStartView.as_view(), name="oauth-start"),
    path("integrations/oauth/<slug:key>/callback", views.OAuthCallbackView.as_view(), name="oauth-callback"),
    path("integrations/<slug:key>/status", views.IntegrationStatusView.as_view(), name="status"),
    path("integrations/<slug:key>/refresh", views.IntegrationRefreshView.as_view(), name="refresh"),
    path("integrations/<slug:key>/revoke", views.IntegrationRevokeView.as_view(), name="revoke"),
]
