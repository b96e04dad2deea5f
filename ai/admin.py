"""Read-only admin of AI conversations: metadata only, never the members' private messages."""

from django.contrib import admin

from ai.models import Conversation, Message
from core.admin import ReadOnlyAdmin


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "status", "model", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["id", "organization", "user", "model", "updated_at"]
    list_select_related = ["organization", "user"]
    search_fields = ["user__email", "organization__name"]
    fields = readonly_fields = ["id", "organization", "user", "model", "created_at", "updated_at"]
    # Read-only: deletion is audited through the API (services.conversation_delete), not here.
    inlines = [MessageInline]
