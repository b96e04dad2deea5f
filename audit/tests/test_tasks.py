"""The retention task and its beat schedule."""

import uuid

import pytest
from django.conf import settings

from audit import selectors, tasks
from audit.models import AuditEvent
from audit.services import event_record
from core.actor import Actor

pytestmark = pytest.mark.django_db


def test_beat_runs_the_prune_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-prune-expired"]

    assert entry["task"] == "audit.tasks.prune_expired_events"
    assert entry["schedule"] == 24 * 60 * 60
    assert settings.AUDIT_RETENTION_DAYS_DEFAULT == 90


def test_prune_task_removes_expired_events(frozen_clock):
    organization_id = uuid.uuid4()
    event_record(action="old", actor=Actor.system(), organization_id=organization_id)
    frozen_clock.advance(days=91)
    kept = event_record(action="kept", actor=Actor.system(), organization_id=organization_id)

    assert tasks.prune_expired_events.delay().get() == 1

    assert list(AuditEvent.objects.filter(organization_id=organization_id).values_list("id", flat=True)) == [kept.id]
    assert selectors.chain_verify(organization_id=organization_id).valid
