"""Notification routes, mounted under /api/v1/ (per user, not org-scoped).

The prefix is part of each route, as for `orgs`: OptionalTrailingSlashMiddleware strips the
trailing slash, so a root declared as `notifications/` + `""` could never match.
"""

from django.urls import path

from notifications.api import views

app_name = "notifications"

urlpatterns = [
    path("notifications", views.NotificationListView.as_view(), name="list"),
    path("notifications/unread-count", views.UnreadCountView.as_view(), name="unread-count"),
    path("notifications/read-all", views.ReadAllView.as_view(), name="read-all"),
    path("notifications/preferences", views.PreferencesView.as_view(), name="preferences"),
    path("notifications/<uuid:notification_id>", views.NotificationDetailView.as_view(), name="detail"),
    path("notifications/<uuid:notification_id>/read", views.NotificationReadView.as_view(), name="read"),
]
