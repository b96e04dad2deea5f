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


def _broker_breaker():
    """The process's circuit breaker for the broker; None when tasks run eagerly (no broker)."""
    from core.cache import breaker_for

    conf = current_app.conf
    if conf.task_always_eager:
        return None
    return breaker_for([conf.broker_url], subject="broker", consequence="tasks are kept in the outbox")


def _send_or_keep(task, args: tuple) -> None:
    # With the broker down each publish costs ~0.6 s of connection retries (more under load) and
    # logged an error: issue 19's soak saw invites take 1.5 s and a line each while Redis was
    # away. After a failure the broker is skipped for CACHE_BREAKER_SECONDS, as the cache is:
    # tasks go straight to the outbox, and one warning per interval says so.
    breaker = _broker_breaker()
    if breaker is not None and not breaker.allow():
        _outbox_keep(task_name=task.name, args=args, error=ConnectionError(f"broker skipped for up to {breaker.seconds}s after a failure"))
        return
    failures = breaker.failures if breaker is not None else 0
    try:
        task.delay(*args)
    except BROKER_ERRORS as exc:
        # The change is committed: answer the request, and let beat send the task later.
        if breaker is None:
            logger.error("broker unavailable, task %s kept in the outbox: %s", task.name, exc)
        else:
            breaker.failure(exc)
        _outbox_keep(task_name=task.name, args=args, error=exc)
        return
    if breaker is not None:
        breaker.success(failures_before=failures)


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
