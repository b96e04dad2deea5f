"""Routes of the platform permission registry, mounted at /api/v1/permissions (staff with MFA)."""

from django.urls import path

from permissions.api import platform_views as views

urlpatterns = [
    path("permissions", views.PlatformPermissionListCreateView.as_view(), name="list"),
    path("permissions/<str:code>", views.PlatformPermissionDetailView.as_view(), name="detail"),
]
