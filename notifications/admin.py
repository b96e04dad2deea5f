"""Staff admin, read-only: notifications are written by `notify` and changed by their user only."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from notifications.models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "user", "organization", "title", "read_at")
    list_filter = ("event",)
    search_fields = ("user__email", "title")
    date_hierarchy = "created_at"
    list_select_related = ("user", "organization")
    raw_id_fields = ("user", "organization")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "email_enabled", "in_app_enabled", "updated_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
