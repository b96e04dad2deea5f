"""event_record: chaining, scrubbing, append-only guards; retention pruning; verification."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from audit import chain, selectors, services
from audit.models import AppendOnlyError, AuditEvent
from audit.services import event_record
from core import entitlements
from core.actor import Actor, actor_of

pytestmark = pytest.mark.django_db

ORG_A = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
ORG_B = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


def record(organization_id=ORG_A, action="thing.happened", actor=None, **fields):
    return event_record(action=action, actor=actor or Actor.system(), organization_id=organization_id, **fields)


# --- the chain ---------------------------------------------------------------------------------


def test_events_of_one_org_form_a_chain():
    # given / when
    first, second, third = (record(action=f"step.{n}") for n in range(3))

    # then
    assert [e.sequence for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == chain.GENESIS
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    for event in (first, second, third):
        event_in_db = AuditEvent.objects.get(id=event.id)
        assert event_in_db.hash == event.hash == chain.hash_of(event_in_db)


def test_each_org_and_the_org_less_events_have_their_own_chain():
    a1, b1, none1, a2, none2 = record(ORG_A), record(ORG_B), record(None), record(ORG_A), record(None)

    assert (a1.sequence, a2.sequence, a2.prev_hash) == (1, 2, a1.hash)
    assert (b1.sequence, b1.prev_hash) == (1, chain.GENESIS)
    assert (none1.sequence, none2.sequence, none2.prev_hash) == (1, 2, none1.hash)
    for organization_id in (ORG_A, ORG_B, None):
        assert selectors.chain_verify(organization_id=organization_id).valid


def test_hash_covers_every_meaningful_field():
    event = record(changes={"name": ["a", "b"]}, metadata={"n": 1}, target_type="thing", target_id="7")
    fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
    for name, other in [
        ("action", "other.action"),
        ("changes", {"name": ["a", "c"]}),
        ("metadata", {"n": 2}),
        ("created_at", event.created_at + timedelta(microseconds=1)),
        ("prev_hash", "f" * 64),
        ("sequence", 99),
        ("target_id", "8"),
        ("organization_id", ORG_B),
        ("actor_email", "x@example.com"),
    ]:
        assert chain.event_hash({**fields, name: other}) != event.hash, name


def test_canonical_json_is_sorted_compact_and_utc():
    event = record(changes={"b": [1, 2], "a": [None, "é"]})
    text = chain.canonical({name: getattr(event, name) for name in chain.HASHED_FIELDS}).decode()

    assert text.startswith('{"action":"thing.happened","actor_email":""')
    assert '"changes":{"a":[null,"é"],"b":[1,2]}' in text
    assert f'"created_at":"{event.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"' in text
    assert ": " not in text and ", " not in text


def test_json_values_read_back_as_written():
    # Floats are normalized the way jsonb returns them, so the hash survives a round trip.
    event = record(changes={"price": [1.0, 2.5], "big": [1e23, None], "odd": [float("nan"), 0.1]})
    stored = AuditEvent.objects.get(id=event.id)

    assert stored.changes == {"price": [1, 2.5], "big": [10**23, None], "odd": ["nan", 0.1]}
    assert chain.hash_of(stored) == event.hash


def test_forwarded_garbage_ip_is_not_stored(rf):
    request = rf.get("/", REMOTE_ADDR="not-an-ip")

    event = record(actor=actor_of(request))

    assert event.ip is None and selectors.chain_verify(organization_id=ORG_A).valid


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_never_reach_changes_or_metadata():
    event = record(
        changes={
            "password": ["old-secret", "new-secret"],
            "api_key": [None, "sk_live_abc"],
            "settings": [{"webhook_secret": "s1", "name": "x"}, {"webhook_secret": "s2", "name": "y"}],
            "name": ["Old", "New"],
        },
        metadata={"refresh_token": "rt-123", "reason": "ok"},
    )
    stored = AuditEvent.objects.get(id=event.id)

    assert stored.changes["password"] == ["[redacted]", "[redacted]"]
    assert stored.changes["api_key"] == [None, "[redacted]"]
    assert stored.changes["settings"] == [{"webhook_secret": "[redacted]", "name": "x"}, {"webhook_secret": "[redacted]", "name": "y"}]
    assert stored.changes["name"] == ["Old", "New"]
    assert stored.metadata == {"refresh_token": "[redacted]", "reason": "ok"}
    for secret in ("old-secret", "new-secret", "sk_live_abc", "s1", "s2", "rt-123"):
        assert secret not in str(stored.changes) + str(stored.metadata)


# --- append-only (ORM level: every database) ------------------------------------------------------


def test_an_event_cannot_be_saved_again_or_deleted():
    event = record()
    event.action = "rewritten"

    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.get(id=event.id).action == "thing.happened"


def test_querysets_refuse_update_and_delete():
    record()

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(organization_id=ORG_A).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditEvent.objects.bulk_update(list(AuditEvent.objects.all()), ["action"])
    assert AuditEvent.objects.filter(action="thing.happened").count() == 1


# --- verification ---------------------------------------------------------------------------------


def tamper(sql: str, params) -> None:
    """Change rows behind the application's back (PostgreSQL: with the trigger switched off)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def db_id(value: uuid.UUID):
    return value if connection.vendor == "postgresql" else value.hex


def test_verify_names_the_altered_event():
    events = [record(action=f"step.{n}", changes={"n": [n, n + 1]}) for n in range(5)]
    assert selectors.chain_verify(organization_id=ORG_A) == selectors.ChainReport(True, 5, None)

    tamper("UPDATE audit_auditevent SET changes = %s WHERE id = %s", ['{"n": [0, 99]}', db_id(events[2].id)])

    report = selectors.chain_verify(organization_id=ORG_A)
    assert report == selectors.ChainReport(valid=False, checked=3, first_broken_id=events[2].id)


def test_verify_catches_a_rehashed_row_at_the_next_link():
    events = [record(action=f"step.{n}") for n in range(4)]
    forged = AuditEvent.objects.get(id=events[1].id)
    forged.action = "forged"
    # The forger recomputes this row's hash, but cannot change what the next event points to.
    tamper("UPDATE audit_auditevent SET action = 'forged', hash = %s WHERE id = %s", [chain.hash_of(forged), db_id(events[1].id)])

    report = selectors.chain_verify(organization_id=ORG_A)

    assert not report.valid and report.first_broken_id == events[2].id


def test_verify_catches_a_removed_event():
    events = [record(action=f"step.{n}") for n in range(4)]

    tamper("DELETE FROM audit_auditevent WHERE id = %s", [db_id(events[2].id)])

    report = selectors.chain_verify(organization_id=ORG_A)
    assert not report.valid and report.first_broken_id == events[3].id


def test_verify_an_empty_chain_is_valid():
    assert selectors.chain_verify(organization_id=ORG_B) == selectors.ChainReport(True, 0, None)


# --- retention ------------------------------------------------------------------------------------


def test_prune_deletes_only_expired_events_and_the_chain_stays_valid(frozen_clock, settings):
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 30
    for n in range(3):
        record(action=f"old.{n}")
    other_org_old = record(ORG_B, action="old.b")
    frozen_clock.advance(days=20)
    recent = [record(action=f"recent.{n}") for n in range(2)]
    frozen_clock.advance(days=15)  # now: `old` are 35 days old, `recent` 15

    deleted = services.events_prune()

    assert deleted == 4
    assert set(AuditEvent.objects.values_list("id", flat=True)) == {e.id for e in recent}
    assert not AuditEvent.objects.filter(id=other_org_old.id).exists()
    report = selectors.chain_verify(organization_id=ORG_A)
    assert report == selectors.ChainReport(True, 2, None)
    # New events still chain onto the kept ones.
    newest = record(action="after.prune")
    assert newest.prev_hash == recent[-1].hash and selectors.chain_verify(organization_id=ORG_A).checked == 3


def test_prune_never_cuts_the_chain_in_the_middle(frozen_clock, settings):
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 30
    first = record(action="first")
    # A writer with a slow clock: sequence 2 carries a time older than sequence 1.
    frozen_clock.advance(days=-10)
    record(action="second")
    frozen_clock.advance(days=10 + 5)
    record(action="third")
    # Only `second` is past retention by its time stamp.
    frozen_clock.current = first.created_at + timedelta(days=30) - timedelta(hours=1)

    services.events_prune()

    # `second` is past retention but follows a kept event: it stays, so the chain has no hole.
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"first", "second", "third"}
    assert selectors.chain_verify(organization_id=ORG_A).valid


def test_prune_uses_the_plan_retention(frozen_clock, monkeypatch, org_factory, settings):
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 90
    long_plan, _ = org_factory()
    short_plan, _ = org_factory()

    def retention(organization, name):
        return 7 if (name == "audit_retention_days" and organization == short_plan) else None

    monkeypatch.setattr(entitlements.entitlement_limit, "provider", retention)
    record(long_plan.id, action="kept")
    record(short_plan.id, action="pruned")
    frozen_clock.advance(days=8)
    record(short_plan.id, action="fresh")

    services.events_prune()

    remaining = set(AuditEvent.objects.filter(organization_id__in=[long_plan.id, short_plan.id]).values_list("action", flat=True))
    assert remaining == {"kept", "fresh"}
    assert selectors.chain_verify(organization_id=short_plan.id).valid


def test_prune_in_small_batches_removes_everything_expired(frozen_clock, settings):
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 1
    for n in range(7):
        record(action=f"old.{n}")
    frozen_clock.advance(days=2)
    kept = record(action="kept")

    assert services.events_prune(batch_size=2) == 7
    assert list(AuditEvent.objects.values_list("id", flat=True)) == [kept.id]
    assert selectors.chain_verify(organization_id=ORG_A).valid


def test_a_fully_pruned_chain_starts_again(frozen_clock, settings):
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 1
    record(action="old")
    frozen_clock.advance(days=2)

    services.events_prune()
    fresh = record(action="fresh")

    assert (fresh.sequence, fresh.prev_hash) == (1, chain.GENESIS)
    assert selectors.chain_verify(organization_id=ORG_A).valid


def test_retention_defaults_when_the_plan_sets_none(settings, org_factory, no_plan_retention):
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 90
    organization, _ = org_factory()

    assert services.retention_days(organization=organization) == 90
    assert services.retention_days(organization=None) == 90


def test_recorded_time_is_utc_with_microseconds(frozen_clock):
    frozen_clock.current = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

    event = record()

    assert AuditEvent.objects.get(id=event.id).created_at == frozen_clock.current
