"""Writing audit events: the one function every app calls inside its transaction, and retention."""

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections, models, router, transaction

from audit import chain
from audit.models import AuditEvent
from core import clock, entitlements
from core.actor import Actor, PrincipalKind
from core.ids import parse_uuid
from core.middleware import current_request_id
from core.net import ip_normalize

logger = logging.getLogger(__name__)

# Field names whose values never go into `changes`, whatever the app passes (matched as substrings,
# at any depth: erring towards redacting a harmless field beats storing one secret).
_SECRET_FIELDS = {"password", "secret", "token", "code", "credentials", "key", "refresh_token", "access_token"}
REDACTED = "[redacted]"

# First half of the PostgreSQL advisory-lock key: keeps the audit chain locks apart from any other.
_CHAIN_LOCK_NAMESPACE = 0x41554454  # "AUDT"

PRUNE_BATCH = 5000


def _is_secret(name: str) -> bool:
    name = name.lower()
    return any(part in name for part in _SECRET_FIELDS)


def _redact(value: Any) -> Any:
    # Keep the shape ([old, new], None for "unset") so the event still says *that* it changed.
    if isinstance(value, (list, tuple)):
        return [None if item is None else REDACTED for item in value]
    return None if value is None else REDACTED


def _scrub(changes: dict[str, Any]) -> dict[str, Any]:
    """Return `changes` JSON-ready, with the values of secret-looking fields redacted at any depth."""
    clean = {}
    for field, value in (changes or {}).items():
        clean[str(field)] = _redact(value) if _is_secret(str(field)) else _scrub_value(value)
    return clean


def _scrub_value(value: Any) -> Any:
    if isinstance(value, dict):
        return _scrub(value)
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item) for item in value]
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return chain.json_value(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _chain_lock(*, organization_id: uuid.UUID | None, using: str) -> None:
    """Serialize writers of one chain until their transaction ends, so two cannot fork it."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return  # SQLite allows one writer at a time; the unique (org, sequence) constraint backs it up
    with connection.cursor() as cursor:
        # xact lock: held to commit, so the next writer reads this event as the head.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [_CHAIN_LOCK_NAMESPACE, str(organization_id) if organization_id else ""],
        )


_ACTOR_TYPES = {
    PrincipalKind.USER: AuditEvent.ActorType.USER,
    PrincipalKind.API_KEY: AuditEvent.ActorType.API_KEY,
    PrincipalKind.SERVICE: AuditEvent.ActorType.SERVICE,
    PrincipalKind.SCIM: AuditEvent.ActorType.SCIM,
}


def event_record(
    *,
    action: str,
    actor: Actor,
    organization_id=None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    changes: dict | None = None,
    metadata: dict | None = None,
) -> AuditEvent:
    """Record one audit event; call it inside the transaction of the change it describes.

    Who acted (a user, an API key, a service or the system), who impersonated them, and the
    client's IP, user agent and request id all come from `actor`.
    """
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or str(target.pk)
    principal = actor.principal
    organization_id = parse_uuid(organization_id, strict=True)
    event = AuditEvent(
        action=action,
        actor_type=_ACTOR_TYPES.get(principal.kind, AuditEvent.ActorType.SYSTEM),
        actor_id=parse_uuid(principal.pk, strict=True),
        # A service has no uuid and no e-mail: its name goes in actor_email (hashed like every
        # field; the chain format is frozen, so no new column), shown as the actor's `id`.
        actor_email=principal.service if principal.kind is PrincipalKind.SERVICE else principal.email,
        impersonator_id=parse_uuid(principal.impersonator_id, strict=True),
        organization_id=organization_id,
        target_type=target_type,
        target_id=str(target_id or ""),
        changes=_scrub(changes or {}),
        metadata=_scrub(metadata or {}),
        # Defensive: a forged address must not make the insert fail (inet refuses garbage).
        ip=ip_normalize(actor.ip),
        user_agent=actor.user_agent[:512],
        request_id=actor.request_id or current_request_id() or "",
    )
    using = router.db_for_write(AuditEvent)
    # Atomic on its own too: callers outside a transaction (failed logins) still get lock + insert as
    # one. No savepoint: inside a caller's transaction a failed insert must fail the whole change.
    with transaction.atomic(using=using, savepoint=False):
        _chain_lock(organization_id=organization_id, using=using)
        head = AuditEvent.objects.using(using).chain_head(organization_id)
        event.sequence, event.prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS)
        # Stamped under the lock, so time order follows chain order on one clock.
        event.created_at = clock.now()
        event.hash = chain.hash_of(event)
        event.save(using=using)
    return event


# --- retention -------------------------------------------------------------------------------


def retention_days(*, organization) -> int:
    """Days an organization's events are kept: its plan's `audit_retention_days`, else the default."""
    days = entitlements.limit_of(organization, "audit_retention_days") if organization is not None else None
    return int(days) if days is not None else settings.AUDIT_RETENTION_DAYS_DEFAULT


def _allow_prune(using: str, allowed: bool) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Transaction-local: the trigger lets DELETE through only while this is on.
            cursor.execute("SELECT set_config('audit.allow_prune', %s, true)", ["on" if allowed else "off"])


def chain_prune(*, organization_id, cutoff, batch_size: int = PRUNE_BATCH) -> int:
    """Delete one chain's events older than `cutoff`, oldest first, keeping the rest verifiable."""
    using = router.db_for_write(AuditEvent)
    events = AuditEvent.objects.using(using).filter(organization_id=organization_id)
    if not events.filter(created_at__lt=cutoff).exists():
        return 0
    # Only a prefix of the chain goes, even when clocks disagree: everything before the oldest
    # event still inside retention. verify() then starts from the first kept event's prev_hash.
    first_kept = events.filter(created_at__gte=cutoff).aggregate(first=models.Min("sequence"))["first"]
    bounds = events.aggregate(low=models.Min("sequence"), high=models.Max("sequence"))
    upper = first_kept - 1 if first_kept is not None else bounds["high"]
    lower, deleted = bounds["low"], 0
    while lower is not None and lower <= upper:
        stop = min(lower + batch_size - 1, upper)
        with transaction.atomic(using=using):
            _allow_prune(using, True)
            deleted += events.filter(sequence__gte=lower, sequence__lte=stop)._prune()
            _allow_prune(using, False)
        lower = stop + 1
    return deleted


def events_prune(*, now=None, batch_size: int = PRUNE_BATCH) -> int:
    """Delete every event older than its organization's retention; return how many went."""
    now = now or clock.now()
    Organization = apps.get_model("organizations", "Organization")
    organization_ids = list(AuditEvent.objects.order_by().values_list("organization_id", flat=True).distinct())
    organizations = Organization.objects.in_bulk([oid for oid in organization_ids if oid is not None])
    deleted = 0
    for organization_id in organization_ids:
        # Events of a deleted organization (and org-less ones) keep the default retention.
        days = retention_days(organization=organizations.get(organization_id))
        count = chain_prune(organization_id=organization_id, cutoff=now - timedelta(days=days), batch_size=batch_size)
        if count:
            logger.info("pruned %s audit events of organization %s (retention %s days)", count, organization_id, days)
        deleted += count
    return deleted
