"""Shapes of the messaging API: requests here, responses from `messaging.payloads` (shared with the events)."""

from rest_framework import serializers

from core.serializers import QuerySerializer, Serializer
from messaging.models import Call, Chat, Message
from messaging.payloads import (  # noqa: F401  (re-exported for the views)
    CallParticipantSerializer,
    CallSerializer,
    ChatMessageSerializer,
    ChatSerializer,
)
from messaging.selectors import MESSAGES_PAGE_DEFAULT, MESSAGES_PAGE_MAX
from messaging.services import MAX_GROUP_MEMBERS, MAX_MESSAGE_CHARS


class ChatCreateSerializer(Serializer):
    type = serializers.ChoiceField(choices=Chat.Kind.choices, help_text="`direct` (exactly one other member) or `group`.")
    member_ids = serializers.ListField(
        child=serializers.UUIDField(), max_length=MAX_GROUP_MEMBERS, help_text="Active members of the organization (the caller is added)."
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="", help_text="Required for a group chat.")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ChatUpdateSerializer(Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ChatMembersAddSerializer(Serializer):
    member_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=MAX_GROUP_MEMBERS)


class ChatMembersAddedSerializer(Serializer):
    added = serializers.ListField(child=serializers.UUIDField(), help_text="Who was added (members already in it are skipped).")
    chat = ChatSerializer()


class ChatMessageCreateSerializer(Serializer):
    content = serializers.CharField(max_length=MAX_MESSAGE_CHARS, trim_whitespace=True)
    message_type = serializers.ChoiceField(choices=Message.Type.choices, required=False, default=Message.Type.TEXT)


class ChatMessageEditSerializer(Serializer):
    content = serializers.CharField(max_length=MAX_MESSAGE_CHARS, trim_whitespace=True)


class ChatMessageQuerySerializer(QuerySerializer):
    cursor = serializers.CharField(required=False, allow_blank=True, default="", help_text="`next_cursor` of the previous page; empty for the newest.")
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MESSAGES_PAGE_MAX,
        default=MESSAGES_PAGE_DEFAULT,
        help_text=f"Messages per page, 1 to {MESSAGES_PAGE_MAX}; default {MESSAGES_PAGE_DEFAULT}.",
    )


class ChatMessagePageSerializer(Serializer):
    data = ChatMessageSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for older messages; null on the last page.")


class ChatReadSerializer(Serializer):
    message_id = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="Read up to this message; default: the chat's last one.")


class ChatReadStateSerializer(Serializer):
    chat_id = serializers.UUIDField()
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()


class ChatPageSerializer(Serializer):
    data = ChatSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    limit = serializers.IntegerField()
    total_pages = serializers.IntegerField()


class CallStartSerializer(Serializer):
    call_type = serializers.ChoiceField(choices=Call.Kind.choices, default=Call.Kind.AUDIO)


class CallMediaSerializer(Serializer):
    audio_enabled = serializers.BooleanField(required=False)
    video_enabled = serializers.BooleanField(required=False)
    screen_sharing = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one of audio_enabled, video_enabled, screen_sharing.")
        return attrs
