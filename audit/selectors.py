"""Reading audit events: filtered lists, keyset pages, stats, and verification of the chain."""

import base64
import binascii
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models.functions import TruncDate
from django.utils.dateparse import parse_datetime

from audit import chain
from audit.models import AuditEvent
from core.exceptions import validation_error

EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class EventFilters:
    """The filters of the list, stats and export endpoints (all optional)."""

    action: str | None = None
    actor_id: uuid.UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def event_list(*, organization, filters: EventFilters | None = None) -> models.QuerySet[AuditEvent]:
    """An organization's events matching `filters`, newest first."""
    events = AuditEvent.objects.for_organization(organization)
    f = filters or EventFilters()
    if f.action:
        events = events.filter(action=f.action)
    if f.actor_id:
        events = events.filter(actor_id=f.actor_id)
    if f.target_type:
        events = events.filter(target_type=f.target_type)
    if f.target_id:
        events = events.filter(target_id=f.target_id)
    if f.start:
        events = events.filter(created_at__gte=f.start)
    if f.end:
        events = events.filter(created_at__lt=f.end)
    # Matches audit_org_time_idx, and id breaks ties between events of the same microsecond.
    return events.order_by("-created_at", "-id")


def event_get(*, organization, event_id) -> AuditEvent | None:
    """One of an organization's events, or None (another org's event is as absent as a missing one)."""
    return AuditEvent.objects.for_organization(organization).filter(id=event_id).first()


# --- keyset pages ------------------------------------------------------------------------------


def cursor_encode(event: AuditEvent) -> str:
    """An opaque cursor pointing just after `event` in newest-first order."""
    raw = json.dumps([chain.timestamp(event.created_at), str(event.id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of a cursor; 400 naming `cursor` when it was not made by cursor_encode."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, event_id = json.loads(raw)
        created_at = parse_datetime(stamp)
        if created_at is None or created_at.tzinfo is None:
            raise ValueError(stamp)
        return created_at, uuid.UUID(event_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise validation_error("cursor", "Invalid cursor.") from None


def keyset_after(*, events: models.QuerySet[AuditEvent], cursor: str) -> models.QuerySet[AuditEvent]:
    """`events` after `cursor` in newest-first order ("" = all of them)."""
    if cursor:
        created_at, event_id = cursor_decode(cursor)
        # The redundant `created_at <= t` becomes the index range start, so page 10,000 costs what
        # page 1 does; the OR alone would be a filter applied while scanning from the newest row.
        events = events.filter(created_at__lte=created_at).filter(models.Q(created_at__lt=created_at) | models.Q(created_at=created_at, id__lt=event_id))
    return events.order_by("-created_at", "-id")


def keyset_page(*, events: models.QuerySet[AuditEvent], cursor: str, limit: int) -> tuple[list[AuditEvent], str | None]:
    """The `limit` events after `cursor` ("" = from the newest) and the cursor of the next page."""
    rows = list(keyset_after(events=events, cursor=cursor)[: limit + 1])
    next_cursor = cursor_encode(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# --- stats ---------------------------------------------------------------------------------


def event_stats(*, organization, filters: EventFilters | None = None) -> dict:
    """Counts of the matching events: in total, per action and per UTC day."""
    events = event_list(organization=organization, filters=filters).order_by()
    by_action = events.values("action").annotate(count=models.Count("id")).order_by("-count", "action")
    by_day = events.annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day").annotate(count=models.Count("id")).order_by("day")
    actions = [{"action": row["action"], "count": row["count"]} for row in by_action]
    return {
        "total": sum(row["count"] for row in actions),
        "by_action": actions,
        "by_day": [{"date": row["day"].isoformat(), "count": row["count"]} for row in by_day],
    }


# --- actors --------------------------------------------------------------------------------


def event_actors(*, organization) -> list[dict]:
    """Who appears in the org's audit log (users, API keys, services), with their event counts, most active first.

    Three queries whatever the number of actors: grouped counts of users and keys, of services
    (by name), and one read of the users' current e-mail and name (the e-mail recorded at the
    time stands in for anyone else).
    """
    events = AuditEvent.objects.for_organization(organization)
    rows = list(
        events.filter(actor_id__isnull=False)
        .exclude(actor_type=AuditEvent.ActorType.SERVICE)
        .values("actor_type", "actor_id")
        .annotate(events=models.Count("id"), recorded_email=models.Max("actor_email"))
        .order_by()
    )
    # An internal service is named, not numbered: event_record keeps its name where an e-mail goes.
    services = (
        events.filter(actor_type=AuditEvent.ActorType.SERVICE).exclude(actor_email="").values("actor_email").annotate(events=models.Count("id")).order_by()
    )
    user_ids = [row["actor_id"] for row in rows if row["actor_type"] == AuditEvent.ActorType.USER]
    # By the model's string reference: this app sits under accounts (it imports only core).
    User = apps.get_model(settings.AUTH_USER_MODEL)
    users = {user["id"]: user for user in User.objects.filter(id__in=user_ids).values("id", "email", "full_name")} if user_ids else {}
    actors = []
    for row in rows:
        user = users.get(row["actor_id"]) if row["actor_type"] == AuditEvent.ActorType.USER else None
        actors.append(
            {
                "id": str(row["actor_id"]),
                "type": row["actor_type"],
                "email": (user["email"] if user else row["recorded_email"]) or None,
                "full_name": (user["full_name"] or None) if user else None,
                "events": row["events"],
            }
        )
    actors += [
        {"id": row["actor_email"], "type": AuditEvent.ActorType.SERVICE.value, "email": None, "full_name": None, "events": row["events"]} for row in services
    ]
    return sorted(actors, key=lambda actor: (-actor["events"], actor["type"], actor["id"]))


# --- export ---------------------------------------------------------------------------------


def event_iter(*, organization, filters: EventFilters | None = None) -> Iterator:
    """Stream the matching events from the database in chunks (never all rows in memory).

    Rows are named tuples with the model's field names: no model instance per row on big exports.
    """
    fields = [field.attname for field in AuditEvent._meta.concrete_fields]
    events = event_list(organization=organization, filters=filters).values_list(*fields, named=True)
    return events.iterator(chunk_size=EXPORT_CHUNK)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    checked: int
    first_broken_id: uuid.UUID | None


def chain_verify(*, organization_id) -> ChainReport:
    """Recompute an organization's chain, oldest kept event first; stop at the first broken event.

    The oldest kept event's stored prev_hash is taken as given (its predecessor may have been
    pruned); every later event must follow its predecessor: next sequence, its hash as prev_hash,
    and a stored hash equal to the recomputed one.
    """
    fields = (*chain.HASHED_FIELDS, "hash")
    rows = AuditEvent.objects.filter(organization_id=organization_id).order_by("sequence").values_list(*fields).iterator(chunk_size=EXPORT_CHUNK)
    checked, previous = 0, None
    for row in rows:
        event = dict(zip(fields, row, strict=True))
        checked += 1
        follows = previous is None or (event["sequence"] == previous["sequence"] + 1 and event["prev_hash"] == previous["hash"])
        if not follows or chain.event_hash(event) != event["hash"]:
            return ChainReport(valid=False, checked=checked, first_broken_id=event["id"])
        previous = event
    return ChainReport(valid=True, checked=checked, first_broken_id=None)
