"""PostgreSQL only: the append-only trigger and the chain lock under concurrent writers."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, close_old_connections, connection, transaction

from audit import selectors, services
from audit.models import AuditEvent
from audit.services import event_record
from core.actor import Actor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORG = uuid.UUID("cccccccc-0000-4000-8000-000000000003")


def raw(sql: str, params=()) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def test_raw_update_is_refused(postgres):
    event = event_record(action="org.updated", actor=Actor.system(), organization_id=ORG)

    with pytest.raises(DatabaseError, match="append-only"):
        raw("UPDATE audit_auditevent SET action = 'rewritten' WHERE id = %s", [event.id])

    assert AuditEvent.objects.get(id=event.id).action == "org.updated"


def test_update_is_refused_even_while_pruning_is_allowed(postgres):
    event = event_record(action="org.updated", actor=Actor.system(), organization_id=ORG)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('audit.allow_prune', 'on', true)")
        cursor.execute("UPDATE audit_auditevent SET action = 'rewritten' WHERE id = %s", [event.id])

    assert AuditEvent.objects.get(id=event.id).action == "org.updated"


def test_raw_delete_outside_pruning_is_refused(postgres):
    event = event_record(action="org.updated", actor=Actor.system(), organization_id=ORG)

    with pytest.raises(DatabaseError, match="append-only"):
        raw("DELETE FROM audit_auditevent WHERE id = %s", [event.id])
    # The retention job's switch is transaction-local: switched on in an earlier transaction, it is off.
    raw("SELECT set_config('audit.allow_prune', 'on', true)")
    with pytest.raises(DatabaseError, match="append-only"):
        raw("DELETE FROM audit_auditevent WHERE id = %s", [event.id])

    assert AuditEvent.objects.filter(id=event.id).exists()


def test_retention_pruning_gets_through_the_trigger(postgres, settings, monkeypatch):
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 30
    old = event_record(action="old", actor=Actor.system(), organization_id=ORG)
    later = old.created_at + timedelta(days=31)
    monkeypatch.setattr("core.clock.now", lambda: later)
    kept = event_record(action="kept", actor=Actor.system(), organization_id=ORG)

    assert services.events_prune() == 1

    assert list(AuditEvent.objects.filter(organization_id=ORG).values_list("id", flat=True)) == [kept.id]
    assert selectors.chain_verify(organization_id=ORG).valid
    # The permission ended with the prune's transaction.
    with pytest.raises(DatabaseError, match="append-only"):
        raw("DELETE FROM audit_auditevent WHERE id = %s", [kept.id])


def test_verify_detects_a_row_changed_with_the_trigger_disabled(postgres):
    events = [event_record(action=f"step.{n}", actor=Actor.system(), organization_id=ORG) for n in range(3)]

    raw("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    try:
        raw("UPDATE audit_auditevent SET actor_email = 'someone@else.example' WHERE id = %s", [events[1].id])
    finally:
        raw("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")

    report = selectors.chain_verify(organization_id=ORG)
    assert (report.valid, report.first_broken_id) == (False, events[1].id)


def test_concurrent_writers_keep_one_chain(postgres):
    writers, per_writer = 8, 10
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                # Each in its own transaction, as separate requests would be.
                with transaction.atomic():
                    event_record(action=f"writer{n}.event{i}", actor=Actor.system(), organization_id=ORG)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    sequences = list(AuditEvent.objects.filter(organization_id=ORG).order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * per_writer + 1))
    assert selectors.chain_verify(organization_id=ORG) == selectors.ChainReport(True, writers * per_writer, None)
