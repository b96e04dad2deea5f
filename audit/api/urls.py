"""Audit routes, mounted under /api/v1/orgs/<org_id>/."""

from django.urls import path

from audit.api import views

urlpatterns = [
    path("audit-logs", views.AuditLogListView.as_view(), name="audit-logs"),
    path("audit-logs/stats", views.AuditLogStatsView.as_view(), name="audit-log-stats"),
    path("audit-logs/export", views.AuditLogExportView.as_view(), name="audit-log-export"),
    path("audit-logs/verify", views.AuditLogVerifyView.as_view(), name="audit-log-verify"),
    path("audit-logs/actors", views.AuditLogActorsView.as_view(), name="audit-log-actors"),
    path("audit-logs/<uuid:event_id>", views.AuditLogDetailView.as_view(), name="audit-log-detail"),
]
