"""The audit-logs API: lists, filters, page/limit and keyset pages, detail, stats, export, verify."""

import csv
import io
import json
import math
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import services
from audit.api.views import CSV_COLUMNS
from audit.models import AuditEvent
from audit.services import event_record
from conftest import client_for
from core.actor import Actor, Principal

pytestmark = pytest.mark.django_db

EVENT_KEYS = {"id", "action", "actor", "organization_id", "target", "changes", "ip", "user_agent", "request_id", "created_at"}


def url(organization, suffix=""):
    return f"/api/v1/orgs/{organization.id}/audit-logs{suffix}"


def code_of(response) -> str:
    return response.json()["error"]["code"]


def seed(organization, count: int, *, action="doc.edited", actor: Actor | None = None, **fields) -> list[AuditEvent]:
    return [
        event_record(action=action, actor=actor or Actor.system(), organization_id=organization.id, target_type="doc", target_id=str(n), **fields)
        for n in range(count)
    ]


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


# --- list -------------------------------------------------------------------------------------


def test_list_is_paginated_newest_first_in_the_contract_shape(team):
    organization, members, clients = team
    seed(organization, 3, actor=Actor.for_user(members["owner"].user), changes={"title": ["a", "b"]})

    response = clients["admin"].get(url(organization), {"limit": 2})

    assert response.status_code == 200
    body = response.json()
    total = AuditEvent.objects.filter(organization_id=organization.id).count()
    assert (body["total"], body["page"], body["limit"], body["total_pages"]) == (total, 1, 2, (total + 1) // 2)
    first = body["data"][0]
    assert set(first) == EVENT_KEYS
    assert first["action"] == "doc.edited" and first["changes"] == {"title": ["a", "b"]}
    assert first["actor"] == {"type": "user", "id": str(members["owner"].user_id), "email": members["owner"].user.email}
    assert first["target"] == {"type": "doc", "id": "2"} and first["organization_id"] == str(organization.id)
    assert first["created_at"].endswith("Z")
    stamps = [item["created_at"] for item in body["data"]]
    assert stamps == sorted(stamps, reverse=True)


def test_impersonator_is_shown_when_set(team):
    organization, members, clients = team
    staff_id = uuid.uuid4()
    impersonated = Principal.from_claims(members["owner"].user, {"act": {"sub": str(staff_id)}})
    event = event_record(action="doc.edited", actor=Actor(principal=impersonated), organization_id=organization.id)

    item = clients["admin"].get(url(organization, f"/{event.id}")).json()

    assert item["impersonator_id"] == str(staff_id)


def test_filters(team, frozen_clock):
    organization, members, clients = team
    owner, admin = members["owner"].user, members["admin"].user
    frozen_clock.current = frozen_clock.current.replace(year=2026, month=1, day=10, hour=12)
    event_record(action="doc.created", actor=Actor.for_user(owner), organization_id=organization.id, target_type="doc", target_id="1")
    frozen_clock.advance(days=1)
    event_record(action="doc.edited", actor=Actor.for_user(admin), organization_id=organization.id, target_type="doc", target_id="1")
    frozen_clock.advance(days=1)
    event_record(action="doc.edited", actor=Actor.for_user(owner), organization_id=organization.id, target_type="sheet", target_id="2")

    def actions(**params):
        response = clients["admin"].get(url(organization), params)
        assert response.status_code == 200, response.content
        return [(item["action"], item["target"]["id"]) for item in response.json()["data"]]

    assert actions(action="doc.edited") == [("doc.edited", "2"), ("doc.edited", "1")]
    assert actions(actor=str(owner.id), target_type="doc") == [("doc.created", "1")]
    assert actions(target_type="doc", target_id="1") == [("doc.edited", "1"), ("doc.created", "1")]
    assert actions(start_date="2026-01-11", end_date="2026-01-11") == [("doc.edited", "1")]
    assert actions(start_date="2026-01-11T12:00:00Z", action="doc.edited") == [("doc.edited", "2"), ("doc.edited", "1")]
    assert actions(end_date="2026-01-10T12:00:00", action="doc.created") == [("doc.created", "1")]
    assert actions(end_date="2026-01-10T11:59:59Z") == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"actor": "not-a-uuid"}, "actor"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-02-30"}, "end_date"),
        ({"start_date": "2026-02-02", "end_date": "2026-02-01"}, "end_date"),
        ({"limit": "0"}, "limit"),
        ({"page": "abc"}, "page"),
        ({"cursor": "garbage!!"}, "cursor"),
        ({"cursor": "eyJub3QiOiAiYSBjdXJzb3IifQ"}, "cursor"),  # valid base64 of {"not": "a cursor"}
        ({"cursor": "WyJub3QtYS10aW1lIiwgIngiXQ"}, "cursor"),  # ["not-a-time", "x"]
        ({"cursor": "", "limit": "-1"}, "limit"),
    ],
)
def test_bad_parameters_are_400_naming_them(team, params, field):
    organization, _, clients = team

    response = clients["admin"].get(url(organization), params)

    assert response.status_code == 400, response.content
    assert code_of(response) == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]


def test_empty_parameters_mean_no_filter(team):
    organization, _, clients = team
    empty = {"action": "", "actor": "", "target_type": "", "target_id": "", "start_date": "", "end_date": ""}

    listed = clients["admin"].get(url(organization), empty)
    exported = clients["admin"].get(url(organization, "/export"), {**empty, "format": ""})

    assert listed.status_code == 200 and listed.json()["total"] == AuditEvent.objects.filter(organization_id=organization.id).count()
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")


def test_bad_filters_on_stats_and_export_too(team):
    organization, _, clients = team
    for suffix, params in [("/stats", {"actor": "x"}), ("/export", {"start_date": "x"}), ("/export", {"format": "xml"})]:
        response = clients["admin"].get(url(organization, suffix), params)
        assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR", suffix
        assert set(response.json()["error"]["details"]) & {"actor", "start_date", "format"}


# --- keyset pages ------------------------------------------------------------------------------


def walk(client, organization, **params) -> tuple[list[str], int]:
    seen, cursor, pages = [], "", 0
    while cursor is not None:
        response = client.get(url(organization), {**params, "cursor": cursor})
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        seen.extend(item["id"] for item in body["data"])
        cursor, pages = body["next_cursor"], pages + 1
    return seen, pages


def test_keyset_walks_every_event_once_in_order(team, frozen_clock):
    organization, _, clients = team
    # Many events share one microsecond (frozen clock): the id breaks the ties.
    seed(organization, 12)
    frozen_clock.advance(seconds=1)
    seed(organization, 13)

    seen, pages = walk(clients["admin"], organization, limit=5)

    expected = [str(i) for i in AuditEvent.objects.filter(organization_id=organization.id).order_by("-created_at", "-id").values_list("id", flat=True)]
    assert seen == expected and len(set(seen)) == len(seen)
    assert pages == math.ceil(len(expected) / 5)


def test_keyset_respects_filters_and_the_page_size(team):
    organization, _, clients = team
    seed(organization, 7, action="doc.edited")
    seed(organization, 3, action="doc.created")

    first = clients["admin"].get(url(organization), {"cursor": "", "action": "doc.edited", "limit": 3}).json()
    seen, _ = walk(clients["admin"], organization, action="doc.edited", limit=3)

    assert len(first["data"]) == 3 and first["next_cursor"]
    assert len(seen) == 7
    assert set(AuditEvent.objects.filter(id__in=seen).values_list("action", flat=True)) == {"doc.edited"}


def test_last_keyset_page_has_no_next_cursor(team):
    organization, _, clients = team

    body = clients["admin"].get(url(organization), {"cursor": "", "limit": 100}).json()

    assert body["next_cursor"] is None and len(body["data"]) == AuditEvent.objects.filter(organization_id=organization.id).count()


# --- detail -----------------------------------------------------------------------------------


def test_detail_and_unknown_id(team):
    organization, _, clients = team
    event = seed(organization, 1)[0]

    assert clients["admin"].get(url(organization, f"/{event.id}")).json()["id"] == str(event.id)
    missing = clients["admin"].get(url(organization, f"/{uuid.uuid4()}"))
    assert missing.status_code == 404 and code_of(missing) == "NOT_FOUND"


# --- stats ------------------------------------------------------------------------------------


def test_stats_count_per_action_and_day_with_filters(team, frozen_clock):
    organization, _, clients = team
    frozen_clock.current = frozen_clock.current.replace(month=2, day=1, hour=23)
    seed(organization, 2, action="doc.created")
    frozen_clock.advance(hours=2)  # the next UTC day
    seed(organization, 3, action="doc.edited")

    body = clients["admin"].get(url(organization, "/stats"), {"target_type": "doc"}).json()
    edited = clients["admin"].get(url(organization, "/stats"), {"action": "doc.edited"}).json()

    assert body == {
        "total": 5,
        "by_action": [{"action": "doc.edited", "count": 3}, {"action": "doc.created", "count": 2}],
        "by_day": [{"date": "2026-02-01", "count": 2}, {"date": "2026-02-02", "count": 3}],
    }
    assert edited["total"] == 3 and edited["by_day"] == [{"date": "2026-02-02", "count": 3}]


# --- export -----------------------------------------------------------------------------------


def test_export_csv_streams_a_header_and_one_row_per_event(team):
    organization, members, clients = team
    seed(organization, 3, actor=Actor.for_user(members["owner"].user), changes={"title": ["a", "b"]}, action="doc.edited")

    response = clients["admin"].get(url(organization, "/export"), {"format": "csv", "action": "doc.edited"})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body_of(response).decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 4
    record = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert record["action"] == "doc.edited" and json.loads(record["changes"]) == {"title": ["a", "b"]}
    assert record["actor_email"] == members["owner"].user.email and record["organization_id"] == str(organization.id)


def test_export_csv_defuses_spreadsheet_formulas(team):
    organization, _, clients = team
    event_record(action="doc.edited", actor=Actor.system(), organization_id=organization.id, target_type="doc", target_id="=HYPERLINK(1)")

    rows = list(csv.reader(io.StringIO(body_of(clients["admin"].get(url(organization, "/export"), {"action": "doc.edited"})).decode())))

    assert dict(zip(CSV_COLUMNS, rows[1], strict=True))["target_id"] == "'=HYPERLINK(1)"


def test_export_jsonl_has_one_event_per_line(team):
    organization, _, clients = team
    events = seed(organization, 3, action="doc.edited")

    # An Accept header naming the export's type must not trip DRF's content negotiation.
    response = clients["admin"].get(url(organization, "/export"), {"format": "jsonl", "action": "doc.edited"}, HTTP_ACCEPT="application/x-ndjson")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = body_of(response).decode().splitlines()
    items = [json.loads(line) for line in lines]
    assert [item["id"] for item in items] == [str(e.id) for e in reversed(events)]
    assert EVENT_KEYS <= set(items[0]) and items[0]["hash"] == events[-1].hash


def test_export_defaults_to_csv_and_ignores_accept(team):
    organization, _, clients = team

    response = clients["admin"].get(url(organization, "/export"), HTTP_ACCEPT="text/csv")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


# --- verify -----------------------------------------------------------------------------------


def test_verify_endpoint(team):
    organization, _, clients = team
    events = seed(organization, 3)

    ok = clients["admin"].get(url(organization, "/verify")).json()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        event_id = events[1].id if connection.vendor == "postgresql" else events[1].id.hex
        cursor.execute("UPDATE audit_auditevent SET target_id = 'forged' WHERE id = %s", [event_id])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    broken = clients["admin"].get(url(organization, "/verify")).json()

    count = AuditEvent.objects.filter(organization_id=organization.id).count()
    assert ok == {"valid": True, "checked": count, "first_broken_id": None}
    assert broken["valid"] is False and broken["first_broken_id"] == str(events[1].id)


def test_verify_still_passes_after_retention(frozen_clock, team, settings, no_plan_retention):
    # frozen_clock first: the fixture's logins are recorded at the frozen time too.
    organization, members, _ = team
    settings.AUDIT_RETENTION_DAYS_DEFAULT = 30
    seed(organization, 4)
    frozen_clock.advance(days=40)
    kept = seed(organization, 2)
    frozen_clock.advance(days=1)

    assert services.events_prune() == 4 + 4  # the seeds and the four logins
    body = client_for(members["admin"].user, organization).get(url(organization, "/verify")).json()

    remaining = list(AuditEvent.objects.filter(organization_id=organization.id).order_by("sequence"))
    assert [e.id for e in remaining[:2]] == [e.id for e in kept] and remaining[2].action == "user.logged_in"
    assert body == {"valid": True, "checked": 3, "first_broken_id": None}


# --- append-only through the API ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete", "post"])
def test_events_cannot_be_changed_through_the_api(team, method):
    organization, _, clients = team
    event = seed(organization, 1)[0]

    for path in (url(organization, f"/{event.id}"), url(organization)):
        response = getattr(clients["owner"], method)(path, {"action": "rewritten"}, format="json")
        assert response.status_code == 405, (method, path)
        assert code_of(response) == "METHOD_NOT_ALLOWED"
    assert AuditEvent.objects.get(id=event.id).action == "doc.edited"


# --- permissions and isolation -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/stats", "/export", "/verify", "/{event}"])
def test_viewer_and_member_need_audit_read(team, suffix):
    organization, _, clients = team
    event = seed(organization, 1)[0]

    for role in ("viewer", "member"):
        response = clients[role].get(url(organization, suffix.format(event=event.id)))
        assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS", role
    assert clients["owner"].get(url(organization, suffix.format(event=event.id))).status_code == 200


def test_other_orgs_events_never_show(team, org_factory):
    organization, _, clients = team
    other, other_members = org_factory(roles=("owner",))
    theirs = seed(other, 2, action="secret.thing")
    mine = seed(organization, 1, action="secret.thing")
    admin = clients["admin"]

    detail = admin.get(url(organization, f"/{theirs[0].id}"))
    listed = admin.get(url(organization), {"limit": 100}).json()["data"]
    keyset = admin.get(url(organization), {"cursor": "", "limit": 100}).json()["data"]
    stats = admin.get(url(organization, "/stats"), {"action": "secret.thing"}).json()
    exported = body_of(admin.get(url(organization, "/export"), {"format": "jsonl"})).decode()
    foreign_path = admin.get(url(other))

    assert detail.status_code == 404 and code_of(detail) == "NOT_FOUND"
    assert {item["id"] for item in listed + keyset} & {str(e.id) for e in theirs} == set()
    assert {item["organization_id"] for item in listed + keyset} == {str(organization.id)}
    assert stats["total"] == len(mine)
    assert all(json.loads(line)["organization_id"] == str(organization.id) for line in exported.splitlines())
    assert str(theirs[0].id) not in exported
    assert foreign_path.status_code == 404
    assert client_for(other_members["owner"].user, other).get(url(other, f"/{theirs[0].id}")).status_code == 200


# --- performance shape ---------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"limit": 100}, {"cursor": "", "limit": 100}])
def test_list_query_count_does_not_grow_with_events(team, params):
    organization, _, clients = team

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = clients["admin"].get(url(organization), params)
        assert response.status_code == 200
        # A first page holding every row needs no COUNT (core.pagination); a fuller one adds it.
        return sum(1 for query in queries if not query["sql"].startswith("SELECT COUNT(*)"))

    seed(organization, 10)
    queries_for_list()  # warm the per-request caches (session state, permissions)
    with_few = queries_for_list()
    seed(organization, 90)
    with_many = queries_for_list()

    assert len(clients["admin"].get(url(organization), params).json()["data"]) == 100
    assert with_few == with_many


def test_head_and_options_read_like_get(team):
    organization, _, clients = team

    assert clients["admin"].head(url(organization)).status_code == 200
    assert clients["admin"].options(url(organization)).status_code == 200
    assert clients["viewer"].head(url(organization)).status_code == 403
