"""Writing audit events: the one function every app calls inside its transaction."""
from typing import Any

from django.db import models

from audit.models import AuditEvent
from core.http import client_ip, user_agent
from core.middleware import current_request_id

# Fields whose values never go into `changes`, whatever the app passes.
_SECRET_FIELDS = {"password", "secret", "token", "code", "credentials", "key", "refresh_token", "access_token"}


def _scrub(changes: dict[str, Any]) -> dict[str, Any]:
    clean = {}
    for field, value in (changes or {}).items():
        if any(part in field.lower() for part in _SECRET_FIELDS):
            clean[field] = ["[redacted]", "[redacted]"]
        else:
            clean[field] = [_jsonable(v) for v in value] if isinstance(value, (list, tuple)) else _jsonable(value)
    return clean


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def event_record(
    *,
    action: str,
    actor=None,
    actor_type: str | None = None,
    organization_id=None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    changes: dict | None = None,
    metadata: dict | None = None,
    request=None,
    impersonator_id=None,
) -> AuditEvent:
    """Record one audit event; call it inside the transaction of the change it describes."""
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or str(target.pk)
    if actor_type is None:
        actor_type = AuditEvent.ActorType.USER if actor is not None else AuditEvent.ActorType.SYSTEM
    if request is not None and impersonator_id is None:
        auth = getattr(request, "auth", None)
        act = auth.get("act") if hasattr(auth, "get") else None
        if isinstance(act, dict):
            impersonator_id = act.get("sub")
    return AuditEvent.objects.create(
        action=action,
        actor_type=actor_type,
        actor_id=getattr(actor, "pk", None) if actor is not None else None,
        actor_email=getattr(actor, "email", "") or "",
        impersonator_id=impersonator_id,
        organization_id=organization_id,
        target_type=target_type,
        target_id=str(target_id or ""),
        changes=_scrub(changes or {}),
        metadata=_jsonable(metadata or {}),
        ip=client_ip(request) if request is not None else None,
        user_agent=user_agent(request) if request is not None else "",
        request_id=current_request_id() or "",
    )
