"""API key routes, mounted under /api/v1/orgs/<org_id>/."""

from django.urls import path

from permissions.api import apikey_views as views

urlpatterns = [
    path("api-keys", views.ApiKeyListCreateView.as_view(), name="api-keys"),
    path("api-keys/<uuid:key_id>", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("api-keys/<uuid:key_id>/rotate", views.ApiKeyRotateView.as_view(), name="api-key-rotate"),
    path("api-keys/<uuid:key_id>/permanent", views.ApiKeyPermanentDeleteView.as_view(), name="api-key-delete"),
]
