"""Routes of the permissions app under /api/v1/orgs/<org_id>/ (API keys have their own module)."""

from django.urls import path

from permissions.api import views

urlpatterns = [
    path("permissions", views.PermissionCatalogView.as_view(), name="permission-catalog"),
    path("permissions/check", views.PermissionCheckView.as_view(), name="permission-check"),
    path("permissions/check-many", views.PermissionCheckManyView.as_view(), name="permission-check-many"),
    path("roles", views.RoleListCreateView.as_view(), name="roles"),
    path("roles/usage-counts", views.RoleUsageCountsView.as_view(), name="role-usage-counts"),
    path("roles/<uuid:role_id>", views.RoleDetailView.as_view(), name="role-detail"),
    path("roles/<uuid:role_id>/permissions", views.RolePermissionsView.as_view(), name="role-permissions"),
    path("role-assignments", views.RoleAssignmentListCreateView.as_view(), name="role-assignments"),
    path("role-assignments/<uuid:assignment_id>", views.RoleAssignmentDetailView.as_view(), name="role-assignment-detail"),
    path("members/<uuid:user_id>/permissions", views.MemberPermissionsView.as_view(), name="member-permissions"),
    path("members/<uuid:user_id>/roles", views.MemberRolesView.as_view(), name="member-roles"),
    path("me/permissions", views.MyPermissionsView.as_view(), name="my-permissions"),
    path("policies", views.PolicyListCreateView.as_view(), name="policies"),
    path("policies/<uuid:policy_id>", views.PolicyDetailView.as_view(), name="policy-detail"),
]
