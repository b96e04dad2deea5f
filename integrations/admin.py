"""Staff admin: integrations and their log, read-only; credentials and data keys are never shown."""

from django.contrib import admin, messages

from core.actor import actor_of
from core.admin import ReadOnlyAdmin
from integrations import services
from integrations.models import Integration, IntegrationLog, OrgDataKey


@admin.register(Integration)
class IntegrationAdmin(ReadOnlyAdmin):
    list_display = ["key", "organization", "status", "expires_at", "updated_at"]
    list_filter = ["key", "type", "status"]
    search_fields = ["organization__name", "organization__slug", "key"]
    # `secret` is left out on purpose: the ciphertext is no one's business either.
    fields = [
        "organization",
        "key",
        "type",
        "status",
        "refreshable",
        "scopes",
        "expires_at",
        "last_refreshed_at",
        "last_error",
        "connected_by",
        "connected_at",
        "revoked_at",
        "created_at",
        "updated_at",
    ]
    list_select_related = ["organization"]
    actions = ["revoke"]

    @admin.action(description="Revoke (at the provider when it can) and wipe the credentials")
    def revoke(self, request, queryset):
        for integration in queryset.exclude(status=Integration.Status.REVOKED):
            services.integration_revoke(integration=integration, actor=actor_of(request))
            self.message_user(request, f"{integration} revoked", messages.SUCCESS)


@admin.register(IntegrationLog)
class IntegrationLogAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "integration", "action", "organization", "message"]
    list_filter = ["action", "integration__key"]
    search_fields = ["organization__name", "integration__key", "message"]
    list_select_related = ["organization", "integration"]


@admin.register(OrgDataKey)
class OrgDataKeyAdmin(ReadOnlyAdmin):
    list_display = ["organization", "master_key_id", "created_at", "rotated_at"]
    search_fields = ["organization__name", "master_key_id"]
    fields = ["organization", "master_key_id", "created_at", "rotated_at"]
