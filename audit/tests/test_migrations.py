"""The chain migration gives events recorded before it a valid chain."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit import selectors
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("audit", "0001_initial")]


def test_existing_events_are_chained_oldest_first():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("audit")
    executor.migrate(BEFORE)
    OldEvent = executor.loader.project_state(BEFORE).apps.get_model("audit", "AuditEvent")
    organization_id = uuid.uuid4()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Inserted out of time order, with one org-less event.
    for days in (2, 0, 1):
        OldEvent.objects.create(action=f"day.{days}", organization_id=organization_id, created_at=start + timedelta(days=days), changes={"n": [days, 1.0]})
    OldEvent.objects.create(action="no.org", organization_id=None, created_at=start)

    executor = MigrationExecutor(connection)
    executor.migrate(latest)

    chained = list(AuditEvent.objects.filter(organization_id=organization_id).order_by("sequence"))
    assert [(e.sequence, e.action) for e in chained] == [(1, "day.0"), (2, "day.1"), (3, "day.2")]
    assert selectors.chain_verify(organization_id=organization_id) == selectors.ChainReport(True, 3, None)
    assert selectors.chain_verify(organization_id=None) == selectors.ChainReport(True, 1, None)
