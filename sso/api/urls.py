"""SSO routes: connections (mounted under /api/v1/orgs/<org_id>/) and sign-in (under /api/v1/auth/sso/)."""

from django.urls import path

from sso.api import views

urlpatterns = [
    path("sso/connections", views.ConnectionListCreateView.as_view(), name="sso-connections"),
    path("sso/connections/<uuid:connection_id>", views.ConnectionDetailView.as_view(), name="sso-connection-detail"),
]

# Browser navigations: they need Django's session (allauth's state), see sso/api/views.py.
auth_urlpatterns = [
    path("sso/start", views.StartView.as_view(), name="sso-start"),
    path("sso/<uuid:connection_id>/login", views.LoginView.as_view(), name="sso-login"),
    path("sso/<uuid:connection_id>/callback", views.CallbackView.as_view(), name="sso-callback"),
    path("sso/<uuid:connection_id>/acs", views.AcsView.as_view(), name="sso-acs"),
    path("sso/<uuid:connection_id>/acs/finish", views.AcsFinishView.as_view(), name="sso-acs-finish"),
    path("sso/<uuid:connection_id>/metadata", views.MetadataView.as_view(), name="sso-metadata"),
]
