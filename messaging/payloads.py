"""Shapes of chats, messages and calls: one definition for the REST responses and the WebSocket events."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import ModelSerializer, Serializer
from messaging.models import Call, CallParticipant, Chat, ChatMember, Message


class ChatUserSerializer(Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    avatar_url = serializers.CharField(read_only=True)


class ChatMessageSerializer(ModelSerializer):
    chat_id = serializers.UUIDField(read_only=True)
    sender = ChatUserSerializer(read_only=True, allow_null=True)
    content = serializers.SerializerMethodField(help_text="Empty once the message is deleted.")
    is_deleted = serializers.BooleanField(read_only=True)
    seq = serializers.IntegerField(read_only=True, help_text="Position in the chat: 1, 2, 3... (read receipts compare it).")

    class Meta:
        model = Message
        fields = ["id", "chat_id", "seq", "sender", "message_type", "content", "created_at", "edited_at", "deleted_at", "is_deleted"]
        read_only_fields = fields

    def get_content(self, message: Message) -> str:
        return "" if message.is_deleted else message.content


class ChatMemberSerializer(ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    avatar_url = serializers.CharField(source="user.avatar_url", read_only=True)
    last_read_seq = serializers.IntegerField(read_only=True, help_text="Every message with seq up to this one was read.")

    class Meta:
        model = ChatMember
        fields = ["user_id", "email", "full_name", "avatar_url", "role", "last_read_seq", "joined_at"]
        read_only_fields = fields


class ChatSerializer(ModelSerializer):
    type = serializers.CharField(source="kind", read_only=True, help_text="`direct` or `group`.")
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)
    members = ChatMemberSerializer(many=True, read_only=True)
    last_message = serializers.SerializerMethodField()
    unread_count = serializers.SerializerMethodField(help_text="Messages of others after my last read one (not deleted).")
    my_role = serializers.SerializerMethodField(help_text="`admin` or `member`.")

    class Meta:
        model = Chat
        fields = [
            "id",
            "type",
            "name",
            "description",
            "created_by",
            "members",
            "last_message",
            "unread_count",
            "my_role",
            "last_message_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ChatMessageSerializer(allow_null=True))
    def get_last_message(self, chat: Chat):
        message = getattr(chat, "last_message", None)
        return ChatMessageSerializer(message).data if message is not None else None

    def get_unread_count(self, chat: Chat) -> int:
        return int(getattr(chat, "unread_count", 0) or 0)

    def get_my_role(self, chat: Chat) -> str | None:
        return getattr(chat, "my_role", None)


class CallParticipantSerializer(ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = CallParticipant
        fields = ["user_id", "full_name", "state", "audio_enabled", "video_enabled", "screen_sharing", "joined_at", "left_at"]
        read_only_fields = fields


class CallSerializer(ModelSerializer):
    chat_id = serializers.UUIDField(read_only=True)
    call_type = serializers.CharField(source="kind", read_only=True, help_text="`audio` or `video`.")
    started_by = serializers.UUIDField(source="started_by_id", read_only=True, allow_null=True)
    participants = CallParticipantSerializer(many=True, read_only=True)

    class Meta:
        model = Call
        fields = ["id", "chat_id", "call_type", "status", "started_by", "started_at", "answered_at", "ended_at", "end_reason", "participants"]
        read_only_fields = fields


def message_payload(message: Message) -> dict:
    """A message as JSON-ready data (for events)."""
    return _plain(ChatMessageSerializer(message).data)


def call_payload(call: Call) -> dict:
    """A call as JSON-ready data (for events)."""
    return _plain(CallSerializer(call).data)


def chat_brief_payload(chat: Chat) -> dict:
    """What events say about a chat: no per-viewer fields (unread count, role)."""
    return {"id": str(chat.id), "type": chat.kind, "name": chat.name, "description": chat.description}


def _plain(data):
    # ReturnDict/OrderedDict and UUIDs → plain JSON types, so every channel layer can carry it.
    if isinstance(data, dict):
        return {str(key): _plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(item) for item in data]
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    return str(data)
