"""Billing tasks: retries with backoff, the stuck-event sweeper, the beat schedule."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from billing import tasks
from billing.models import WebhookEvent
from core import clock

pytestmark = pytest.mark.django_db


def test_event_processing_retries_with_backoff():
    task = tasks.process_stripe_event

    assert Exception in task.autoretry_for
    assert task.retry_backoff is True and task.retry_jitter is True and task.max_retries >= 5


def test_the_beat_schedule_runs_expiry_and_the_sweeper():
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {"billing.tasks.expire_manual_subscriptions", "billing.tasks.retry_stripe_events"} <= schedule


def test_the_sweeper_requeues_only_unfinished_events_that_waited(fake_stripe, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.process_stripe_event, "delay", lambda event_id: queued.append(event_id))
    old = clock.now() - timedelta(hours=1)

    def stored(status, received_at):
        return WebhookEvent.objects.create(
            stripe_event_id=f"evt_{status}_{received_at.timestamp()}",
            type="invoice.paid",
            status=status,
            event_created=datetime(2026, 1, 1, tzinfo=UTC),
            payload={},
            received_at=received_at,
        )

    stuck = [stored("pending", old), stored("failed", old)]
    stored("processed", old)
    stored("ignored", old)
    stored("pending", clock.now())  # just arrived: its own task is on the way

    assert tasks.retry_stripe_events() == 2
    assert sorted(queued) == sorted(e.id for e in stuck)
