from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: audit events are never edited or deleted from the admin."""

    list_display = ("created_at", "action", "actor_type", "actor_email", "organization_id", "target_type", "target_id")
    list_filter = ("action", "actor_type")
    search_fields = ("action", "actor_email", "target_id", "request_id")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
