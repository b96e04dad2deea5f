"""Routes under /api/v1/orgs (org-scoped ones under /orgs/<org_id>/), plus auth routes this app serves."""
from django.urls import include, path

from organizations.api import views

org_children = [
    path("settings", views.OrganizationSettingsView.as_view(), name="settings"),
    path("stats", views.OrganizationStatsView.as_view(), name="stats"),
    path("members", views.MemberListView.as_view(), name="members"),
    path("members/<uuid:user_id>", views.MemberDetailView.as_view(), name="member-detail"),
    path("transfer-ownership", views.TransferOwnershipView.as_view(), name="transfer-ownership"),
    path("leave", views.LeaveView.as_view(), name="leave"),
    path("profile", views.ProfileView.as_view(), name="profile"),
    path("", include("organizations.api.invite_urls")),
    path("", include("permissions.api.urls")),
    path("", include("permissions.api.apikey_urls")),
    path("", include("audit.api.urls")),
    path("", include("documents.api.urls")),
]

urlpatterns = [
    path("orgs", views.OrganizationListCreateView.as_view(), name="list"),
    path("orgs/<uuid:org_id>", views.OrganizationDetailView.as_view(), name="detail"),
    path("orgs/<uuid:org_id>/", include(org_children)),
]

auth_urlpatterns = [
    path("setup-organization", views.SetupOrganizationView.as_view(), name="setup-organization"),
    path("switch-org", views.SwitchOrgView.as_view(), name="switch-org"),
]
