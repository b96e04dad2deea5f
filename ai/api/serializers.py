"""Shapes of the AI chat API."""

from rest_framework import serializers

from ai.models import Conversation, Message
from core.serializers import ModelSerializer, Serializer

MAX_MESSAGE_CHARS = 32_000


class ChatRequestSerializer(Serializer):
    message = serializers.CharField(max_length=MAX_MESSAGE_CHARS, help_text="The user's prompt.")
    conversation_id = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="Continue this conversation; omit to start a new one.")
    model = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200, help_text="One of `GET ai/models`; default: the configured default."
    )


class MessageSerializer(ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "role", "content", "model", "status", "created_at"]
        read_only_fields = fields


class ChatResponseSerializer(Serializer):
    conversation_id = serializers.UUIDField()
    message = MessageSerializer(help_text="The assistant's reply, as stored.")


class ConversationSerializer(ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "model", "created_at", "updated_at"]
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields


class ConversationPageSerializer(Serializer):
    data = ConversationSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    limit = serializers.IntegerField()
    total_pages = serializers.IntegerField()


class AiModelSerializer(Serializer):
    id = serializers.CharField()
    default = serializers.BooleanField()


class AiModelListSerializer(Serializer):
    data = AiModelSerializer(many=True)


class AiUsageSerializer(Serializer):
    used = serializers.IntegerField(help_text="AI requests this calendar month (UTC).")
    limit = serializers.IntegerField(allow_null=True, help_text="The plan's ai_requests_per_month; null = unlimited.")
    remaining = serializers.IntegerField(allow_null=True)
    period_start = serializers.DateField()


class AiStreamEventSerializer(Serializer):
    """One Server-Sent Event of a streamed reply, as an SSE parser reads it."""

    event = serializers.CharField(required=False, help_text="`message` (the default, omitted on the wire) or `error`.")
    data = serializers.CharField(help_text='`{"content": "..."}` per piece, then `[DONE]`; on `event: error`, the error envelope as JSON.')
