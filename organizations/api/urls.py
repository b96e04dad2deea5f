"""Routes of the organizations app: /orgs, /orgs/<org_id>, its own org resources, plus auth routes it serves.

Org resources (`org_urlpatterns`) are relative to /orgs/<org_id>/: config/urls.py mounts them there,
with every other app's org-resource module.
"""

from django.urls import path

from organizations.api import views

urlpatterns = [
    path("orgs", views.OrganizationListCreateView.as_view(), name="list"),
    path("orgs/<uuid:org_id>", views.OrganizationDetailView.as_view(), name="detail"),
]

org_urlpatterns = [
    path("settings", views.OrganizationSettingsView.as_view(), name="settings"),
    path("stats", views.OrganizationStatsView.as_view(), name="stats"),
    path("members", views.MemberListView.as_view(), name="members"),
    path("members/<uuid:user_id>", views.MemberDetailView.as_view(), name="member-detail"),
    path("members/<uuid:user_id>/revoke", views.MemberRevokeView.as_view(), name="member-revoke"),
    path("transfer-ownership", views.TransferOwnershipView.as_view(), name="transfer-ownership"),
    path("leave", views.LeaveView.as_view(), name="leave"),
    path("profile", views.ProfileView.as_view(), name="profile"),
]

auth_urlpatterns = [
    path("setup-organization", views.SetupOrganizationView.as_view(), name="setup-organization"),
    path("switch-org", views.SwitchOrgView.as_view(), name="switch-org"),
]
