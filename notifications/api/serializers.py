"""Notifications API shapes: query filters in; notifications, counts and preferences out."""

from rest_framework import serializers

from core.serializers import ModelSerializer, QuerySerializer, Serializer
from notifications.catalog import EVENTS
from notifications.models import Notification


class NotificationSerializer(ModelSerializer):
    organization_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The organization it is about, if any.")
    read = serializers.SerializerMethodField()
    event = serializers.CharField(read_only=True, help_text="Event name: " + ", ".join(f"`{name}`" for name in EVENTS) + ".")
    data = serializers.DictField(read_only=True, help_text="Event details for the UI (ids, names; never secrets).")

    class Meta:
        model = Notification
        fields = ("id", "event", "title", "body", "data", "organization_id", "read", "read_at", "created_at")
        read_only_fields = fields

    def get_read(self, notification: Notification) -> bool:
        return notification.is_read


class OrganizationFilterSerializer(QuerySerializer):
    organization_id = serializers.UUIDField(required=False, help_text="Only notifications about this organization.")


class ListQuerySerializer(OrganizationFilterSerializer):
    unread_only = serializers.BooleanField(required=False, default=False, help_text="Only unread notifications.")


class UnreadCountSerializer(Serializer):
    count = serializers.IntegerField()


class ReadAllSerializer(Serializer):
    updated = serializers.IntegerField(help_text="How many notifications were marked read.")


class EventChoiceSerializer(Serializer):
    email = serializers.BooleanField(required=False)
    in_app = serializers.BooleanField(required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown channel: use `email` or `in_app`."] for key in unknown})
        return super().to_internal_value(data)


class EventChoiceOutSerializer(Serializer):
    email = serializers.BooleanField()
    in_app = serializers.BooleanField()


class _EventMapSerializer(Serializer):
    """One field per catalog event; any other key is refused."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(EVENTS)
                raise serializers.ValidationError({key: [f"Unknown event. Known events: {known}."] for key in unknown})
        return super().to_internal_value(data)


def _event_map(name: str, choice: type[serializers.Serializer], *, required: bool) -> type[serializers.Serializer]:
    fields = {event.name: choice(required=required, help_text=event.description) for event in EVENTS.values()}
    return type(name, (_EventMapSerializer,), {**fields, "__module__": __name__})


EventPreferencesInSerializer = _event_map("EventPreferencesInSerializer", EventChoiceSerializer, required=False)
EventPreferencesSerializer = _event_map("EventPreferencesSerializer", EventChoiceOutSerializer, required=True)


class PreferencesUpdateSerializer(Serializer):
    """Every field optional: what is left out stays as it is (per event and per channel too)."""

    email_enabled = serializers.BooleanField(required=False, help_text="Master switch for email.")
    in_app_enabled = serializers.BooleanField(required=False, help_text="Master switch for in-app notifications.")
    preferences = EventPreferencesInSerializer(required=False, help_text="Per-event choices, `{event: {email, in_app}}`.")


class PreferencesSerializer(Serializer):
    """A channel is used for an event when both its master switch and the event's choice are on."""

    email_enabled = serializers.BooleanField()
    in_app_enabled = serializers.BooleanField()
    preferences = EventPreferencesSerializer(help_text="Every known event with its effective choice (the default unless changed).")
