"""SCIM token routes, mounted under /api/v1/orgs/<org_id>/."""

from django.urls import path

from scim.api import views

urlpatterns = [
    path("scim/tokens", views.ScimTokenListCreateView.as_view(), name="scim-tokens"),
    path("scim/tokens/<uuid:token_id>", views.ScimTokenDetailView.as_view(), name="scim-token-detail"),
    path("scim/tokens/<uuid:token_id>/rotate", views.ScimTokenRotateView.as_view(), name="scim-token-rotate"),
]
