"""Queue Celery tasks so that a broker outage never fails a committed change nor loses the task."""

import base64
import hashlib
import json
import logging
from datetime import timedelta

from celery import current_app, shared_task
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import transaction
from kombu.exceptions import KombuError

from core import clock

logger = logging.getLogger(__name__)

# What publishing raises when the broker is unreachable (socket errors, kombu's wrappers).
BROKER_ERRORS = (OSError, KombuError)
OUTBOX_BATCH = 100
OUTBOX_MAX_BACKOFF = timedelta(hours=1)


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"core.outbox:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def enqueue(task, *args) -> None:
    """Send `task(*args)` once the current transaction commits; keep it in the outbox if the broker is down."""
    transaction.on_commit(lambda: _send_or_keep(task, args))


def _send_or_keep(task, args: tuple) -> None:
    try:
        task.delay(*args)
    except BROKER_ERRORS as exc:
        # The change is committed: answer the request, and let beat send the task later.
        logger.error("broker unavailable, task %s kept in the outbox: %s", task.name, exc)
        _outbox_keep(task_name=task.name, args=args, error=exc)


def _outbox_keep(*, task_name: str, args: tuple, error: Exception) -> None:
    from core.models import OutboxTask

    now = clock.now()
    payload = _fernet().encrypt(json.dumps(list(args)).encode()).decode()
    try:
        OutboxTask.objects.create(task_name=task_name, payload=payload, created_at=now, next_attempt_at=now, last_error=repr(error)[:500])
    except Exception:  # noqa: BLE001 - the database is down too: nothing left to keep it in
        logger.exception("task %s lost: neither the broker nor the outbox is reachable", task_name)


def outbox_send(*, limit: int = OUTBOX_BATCH) -> int:
    """Send due outbox tasks (oldest first); return how many reached the broker."""
    from core.models import OutboxTask

    sent = 0
    with transaction.atomic():
        # skip_locked: two beat runs (or workers) never send the same task twice.
        due = list(OutboxTask.objects.select_for_update(skip_locked=True).filter(next_attempt_at__lte=clock.now())[:limit])
        for item in due:
            task = current_app.tasks.get(item.task_name)
            if task is None:
                logger.error("outbox task %s is not registered; dropped", item.task_name)
                item.delete()
                continue
            try:
                task.delay(*json.loads(_fernet().decrypt(item.payload.encode())))
            except BROKER_ERRORS as exc:
                item.attempts += 1
                item.last_error = repr(exc)[:500]
                item.next_attempt_at = clock.now() + min(timedelta(minutes=2**item.attempts), OUTBOX_MAX_BACKOFF)
                item.save(update_fields=["attempts", "last_error", "next_attempt_at"])
                # The broker is still down: the rest would fail the same way.
                break
            item.delete()
            sent += 1
    return sent


@shared_task
def outbox_flush() -> int:
    """Re-send the tasks kept while the broker was down (every minute, from beat)."""
    return outbox_send()
