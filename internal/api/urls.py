"""Routes of the internal service API, mounted at /internal/v1/ (config/urls.py)."""

from django.urls import path

from internal.api import views

urlpatterns = [
    path("validate-token", views.ValidateTokenView.as_view(), name="validate-token"),
    path("users/<uuid:user_id>", views.UserDetailView.as_view(), name="user-detail"),
    path("orgs/<uuid:org_id>", views.OrganizationDetailView.as_view(), name="org-detail"),
    path("orgs/<uuid:org_id>/members/<uuid:user_id>", views.MemberDetailView.as_view(), name="member-detail"),
    path("orgs/<uuid:org_id>/check-limit", views.CheckLimitView.as_view(), name="check-limit"),
    path("orgs/<uuid:org_id>/usage", views.UsageView.as_view(), name="usage"),
    path("check", views.PermissionCheckView.as_view(), name="check"),
    path("check-many", views.PermissionCheckManyView.as_view(), name="check-many"),
    path("plans/<slug:code>/features", views.PlanFeaturesView.as_view(), name="plan-features"),
]
