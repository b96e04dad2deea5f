"""Audit API shapes: query filters in, events, pages, stats and verification out."""

from datetime import UTC, datetime, time, timedelta

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit import chain
from audit.models import AuditEvent
from audit.selectors import EventFilters
from core.serializers import QuerySerializer, Serializer

# --- query parameters ----------------------------------------------------------------------


@extend_schema_field({"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]})
class DateOrDateTimeField(serializers.Field):
    """An ISO date (a whole UTC day) or date-time (naive = UTC); becomes (instant, is_date)."""

    default_error_messages = {"invalid": "Use an ISO date (2026-01-31) or date-time (2026-01-31T12:00:00Z)."}

    def to_internal_value(self, data):
        text = str(data).strip()
        try:
            # Date first: parse_datetime would also read "2026-01-31" as its midnight.
            day = parse_date(text)
            moment = None if day else parse_datetime(text)
        except ValueError:
            day = moment = None
        if day is not None:
            return datetime.combine(day, time.min, tzinfo=UTC), True
        if moment is not None:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False
        self.fail("invalid")

    def to_representation(self, value):
        return value


class EventFilterSerializer(QuerySerializer):
    """Filters shared by the list, stats and export endpoints."""

    action = serializers.CharField(required=False, max_length=80, help_text="Exact action, e.g. `member.role_changed`.")
    actor = serializers.UUIDField(required=False, help_text="Id of the user who acted.")
    target_type = serializers.CharField(required=False, max_length=40, help_text="e.g. `user`, `organization`.")
    target_id = serializers.CharField(required=False, max_length=64)
    start_date = DateOrDateTimeField(required=False, help_text="From this ISO date or date-time (inclusive, UTC).")
    end_date = DateOrDateTimeField(required=False, help_text="Up to this ISO date (the whole day) or date-time (inclusive, UTC).")

    def validate(self, attrs):
        start = attrs.get("start_date")
        end = attrs.get("end_date")
        if start and end and end[0] < start[0]:
            raise serializers.ValidationError({"end_date": ["Must not be before start_date."]})
        return attrs

    def filters(self) -> EventFilters:
        data = self.validated_data
        start = data.get("start_date")
        end = data.get("end_date")
        if end is not None:
            moment, is_date = end
            # Both become an exclusive bound: the next midnight for a date, the next microsecond
            # (the database's precision) for a date-time.
            end = moment + (timedelta(days=1) if is_date else timedelta(microseconds=1))
        return EventFilters(
            action=data.get("action") or None,
            actor_id=data.get("actor"),
            target_type=data.get("target_type") or None,
            target_id=data.get("target_id") or None,
            start=start[0] if start else None,
            end=end,
        )


class ListQuerySerializer(EventFilterSerializer):
    page = serializers.IntegerField(required=False, min_value=1, help_text="Page number (page/limit mode).")
    limit = serializers.IntegerField(required=False, min_value=1, help_text="Items per page, 1 to 100; default 20.")
    offset = serializers.IntegerField(
        required=False, min_value=0, help_text="Rows to skip (limit/offset mode, instead of `page`); the answer also carries `offset`."
    )
    cursor = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Keyset mode: pass it empty for the first page, then each response's `next_cursor`.",
    )


class ExportQuerySerializer(EventFilterSerializer):
    format = serializers.ChoiceField(choices=["csv", "jsonl"], default="csv", help_text="csv (default) or jsonl.")


# --- events ----------------------------------------------------------------------------------


def event_item(event: AuditEvent) -> dict:
    """The contract's JSON shape of one event."""
    if event.actor_type == AuditEvent.ActorType.SERVICE:
        # An internal service is named, not numbered: audit.services.event_record stores its name there.
        actor = {"type": event.actor_type, "id": event.actor_email or None, "email": None}
    else:
        actor = {"type": event.actor_type, "id": str(event.actor_id) if event.actor_id else None, "email": event.actor_email or None}
    item = {
        "id": str(event.id),
        "action": event.action,
        "actor": actor,
        "organization_id": str(event.organization_id) if event.organization_id else None,
        "target": {"type": event.target_type or None, "id": event.target_id or None},
        "changes": event.changes,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "created_at": chain.timestamp(event.created_at),
    }
    if event.impersonator_id:
        item["impersonator_id"] = str(event.impersonator_id)
    return item


def export_item(event: AuditEvent) -> dict:
    """An event as exported: the API shape plus what is needed to re-check the chain offline."""
    return {
        **event_item(event),
        "metadata": event.metadata,
        "sequence": event.sequence,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class AuditActorSerializer(Serializer):
    type = serializers.ChoiceField(choices=AuditEvent.ActorType.choices)
    id = serializers.CharField(allow_null=True, help_text="A user's or API key's id (UUID); a service's name for `type: service`.")
    email = serializers.EmailField(allow_null=True)


class AuditTargetSerializer(Serializer):
    type = serializers.CharField(allow_null=True, help_text="Model name of the object, e.g. `user`.")
    id = serializers.CharField(allow_null=True)


class AuditEventSerializer(Serializer):
    """One audit event (read-only)."""

    id = serializers.UUIDField()
    action = serializers.CharField(help_text="`<resource>.<verb>` in the past tense, e.g. `org.updated`.")
    actor = AuditActorSerializer()
    organization_id = serializers.UUIDField(allow_null=True)
    target = AuditTargetSerializer()
    changes = serializers.DictField(help_text="{field: [old, new]}; secrets appear as `[redacted]`.")
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    request_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    impersonator_id = serializers.UUIDField(required=False, help_text="Present only when staff acted by impersonation.")

    def to_representation(self, instance):
        # One dict per row, built directly: lists and exports stay cheap per event.
        return event_item(instance)


class AuditEventPageSerializer(Serializer):
    data = AuditEventSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    limit = serializers.IntegerField()
    total_pages = serializers.IntegerField()
    offset = serializers.IntegerField(required=False, help_text="Present in limit/offset mode: the rows skipped.")


class AuditLogActorSerializer(Serializer):
    id = serializers.CharField(help_text="User or API key id: what the list's `actor=` filter takes for a user.")
    type = serializers.ChoiceField(choices=AuditEvent.ActorType.choices)
    email = serializers.EmailField(allow_null=True, help_text="A user's current e-mail, else the one recorded with their events.")
    full_name = serializers.CharField(allow_null=True)
    events = serializers.IntegerField(help_text="Events of this org's log made by this actor.")


class AuditLogActorListSerializer(Serializer):
    data = AuditLogActorSerializer(many=True)


class AuditEventCursorPageSerializer(Serializer):
    data = AuditEventSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Cursor of the next page; null on the last.")


class ActionCountSerializer(Serializer):
    action = serializers.CharField()
    count = serializers.IntegerField()


class DayCountSerializer(Serializer):
    date = serializers.DateField(help_text="UTC day.")
    count = serializers.IntegerField()


class AuditStatsSerializer(Serializer):
    total = serializers.IntegerField()
    by_action = ActionCountSerializer(many=True, help_text="Most frequent first.")
    by_day = DayCountSerializer(many=True, help_text="Oldest day first; days without events are left out.")


class AuditVerifySerializer(Serializer):
    valid = serializers.BooleanField()
    checked = serializers.IntegerField(help_text="Events checked (up to and including the first broken one).")
    first_broken_id = serializers.UUIDField(allow_null=True, help_text="The first event whose chain link fails.")
