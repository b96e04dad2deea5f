from django.contrib import admin

from audit.models import AuditEvent
from core.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: audit events are never edited or deleted from the admin."""

    list_display = ("created_at", "action", "actor_type", "actor_email", "organization_id", "target_type", "target_id")
    list_filter = ("action", "actor_type")
    search_fields = ("action", "actor_email", "target_id", "request_id")
    date_hierarchy = "created_at"
