"""Benchmark: GET /api/v1/orgs/{id}/audit-logs?cursor= at 1,000,000 events; goal: a deep page within 2× page 1.

Seeds COUNT hash-chained events for one organization with COPY (the append-only trigger only
refuses UPDATE and DELETE; the hashes are computed exactly as audit.chain does, so the chain
verifies), then loads keyset page 1 and a keyset page ~90 % deep (`?cursor=`) through gunicorn.

`--audit-details` adds, in process (Django's test client, no network): the same depth with
OFFSET (`?page=`) for contrast, the database-only execution times and the deep query's plan,
the streamed export (CSV and JSON lines) in rows/s and verification of the whole chain.

    .venv/bin/python bench/audit_pagination.py [--audit-events 1000000] [--audit-details]
"""

import hashlib
import json
import random
import resource
import statistics
import time
import uuid
from datetime import timedelta

import harness
from django.db import connection, transaction
from django.test import Client

from audit import chain, selectors
from audit.models import AuditEvent
from core import clock

ACTIONS = ["doc.edited", "doc.created", "member.role_changed", "user.logged_in", "api_key.created", "team.updated"]
COLUMNS = (
    "id", "created_at", "action", "actor_type", "actor_id", "actor_email", "impersonator_id", "organization_id",
    "target_type", "target_id", "changes", "metadata", "ip", "user_agent", "request_id", "sequence", "prev_hash", "hash",
)  # fmt: skip
LIMIT = 50
DEPTH = 0.9
GOAL_RATIO = 2.0


def add_arguments(parser) -> None:
    parser.add_argument("--audit-details", action="store_true", help="also time OFFSET pages, export and verify in process")


def events_copy(*, organization_id: uuid.UUID, count: int, span_days: int) -> float:
    """COPY `count` events continuing the org's chain, spread over `span_days` up to now; return seconds."""
    head = AuditEvent.objects.chain_head(organization_id)
    sequence, prev_hash = head if head else (0, chain.GENESIS)
    now = clock.now()
    start = now - timedelta(days=span_days)
    step = timedelta(days=span_days) / max(count, 1)
    actors = [(uuid.uuid4(), f"user{n}@bench.example") for n in range(50)]
    rng = random.Random(42)
    started = time.perf_counter()
    raw = connection.connection  # the psycopg connection behind Django's
    with transaction.atomic(), raw.cursor() as cursor:
        with cursor.copy(f"COPY audit_auditevent ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for n in range(count):
                actor_id, actor_email = actors[rng.randrange(len(actors))]
                sequence += 1
                fields = {
                    "id": uuid.uuid4(),
                    "sequence": sequence,
                    "organization_id": organization_id,
                    "created_at": start + step * n,
                    "action": ACTIONS[n % len(ACTIONS)],
                    "actor_type": "user",
                    "actor_id": actor_id,
                    "actor_email": actor_email,
                    "impersonator_id": None,
                    "target_type": "doc",
                    "target_id": str(n),
                    "changes": {"title": [f"v{n}", f"v{n + 1}"]},
                    "metadata": {},
                    "ip": "10.0.0.1",
                    "user_agent": "bench/1.0",
                    "request_id": uuid.uuid4().hex,
                    "prev_hash": prev_hash,
                }
                fields["hash"] = prev_hash = hashlib.sha256(chain.canonical(fields)).hexdigest()
                row = dict(fields, changes=json.dumps(fields["changes"]), metadata="{}")
                copy.write_row([row[column] for column in COLUMNS])
                if n and n % 100_000 == 0:
                    print(f"  seeded {n:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
    return time.perf_counter() - started


def timed(client: Client, path: str, params: dict, repeat: int) -> tuple[float, dict]:
    """Median milliseconds of `repeat` GETs (after one warm-up) and the last body."""
    samples, body = [], None
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        response = client.get(path, params)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        if attempt:
            samples.append(elapsed)
    return statistics.median(samples), body


def explain_keyset(*, organization, cursor: str, limit: int) -> str:
    """The plan of a keyset page query (shows the index range scan)."""
    events = selectors.keyset_after(events=selectors.event_list(organization=organization), cursor=cursor)
    return events[: limit + 1].explain(analyze=True, buffers=True)


def execution_ms(plan: str) -> float:
    """The `Execution Time` of an EXPLAIN ANALYZE text."""
    line = next(line for line in plan.splitlines() if "Execution Time" in line)
    return float(line.split(":")[1].split()[0])


def database_only(*, organization, deep_cursor: str, deep_offset: int, limit: int, repeat: int) -> dict[str, float]:
    """Median server-side execution time of each page query, without HTTP or Python around it."""
    queries = {
        "keyset page 1": lambda: explain_keyset(organization=organization, cursor="", limit=limit),
        "keyset deep page": lambda: explain_keyset(organization=organization, cursor=deep_cursor, limit=limit),
        "offset deep page": lambda: selectors.event_list(organization=organization)[deep_offset : deep_offset + limit].explain(analyze=True),
    }
    return {name: statistics.median(execution_ms(run()) for _ in range(repeat)) for name, run in queries.items()}


def seed(bench: harness.Bench) -> dict:
    organization, owner = harness.organization_with_members("audit", 1)
    count = bench.args.audit_events
    print(f"    seeding {count:,} audit events ...", flush=True)
    seconds = events_copy(organization_id=organization.id, count=count, span_days=80)
    total = AuditEvent.objects.filter(organization_id=organization.id).count()
    print(f"    seeded {count:,} events in {seconds:.1f} s ({count / max(seconds, 1e-9):,.0f} events/s); the org has {total:,}")
    depth_rows = max(LIMIT, int(total * DEPTH) // LIMIT * LIMIT)  # a page boundary
    # The cursor of the row just before the deep page, found once (slowly) with OFFSET.
    anchor = selectors.event_list(organization=organization)[depth_rows - 1 : depth_rows].get()
    return {
        "organization": organization,
        "owner": owner,
        "token": harness.access_token(owner, organization),
        "base": f"/api/v1/orgs/{organization.id}/audit-logs",
        "total": total,
        "depth_rows": depth_rows,
        "deep_cursor": selectors.cursor_encode(anchor),
    }


def measure(bench: harness.Bench, seeded: dict) -> harness.Measured:
    base, token, total = seeded["base"], seeded["token"], seeded["total"]
    first_path = f"{base}?cursor=&limit={LIMIT}"
    deep_path = f"{base}?cursor={seeded['deep_cursor']}&limit={LIMIT}"
    first = bench.expect("GET", first_path, token=token)
    deep = bench.expect("GET", deep_path, token=token)
    assert len(first["data"]) == LIMIT and len(deep["data"]) == LIMIT and deep["next_cursor"], (first, deep)
    depth = f"row {seeded['depth_rows']:,}"
    rows = [
        bench.wrk("audit_first", f"GET audit-logs?cursor= page 1 ({total:,} events)", path=first_path, token=token),
        bench.wrk("audit_deep", f"GET audit-logs?cursor= deep page ({depth})", path=deep_path, token=token),
    ]
    if bench.args.audit_details:
        details(seeded)

    def check(rows):
        ratio = rows["audit_deep"].p50 / rows["audit_first"].p50
        return ratio <= GOAL_RATIO, f"p50 {ratio:.2f}× page 1"

    return harness.Measured(rows=rows, goals=[harness.Goal(f"audit deep page ≤ {GOAL_RATIO:g}× page 1 ({total:,} events)", check)])


def details(seeded: dict) -> None:
    """In-process extras: OFFSET contrast, database-only times, plan, export and verification."""
    organization, base, limit = seeded["organization"], seeded["base"], LIMIT
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {seeded['token']}"
    repeat = 9
    depth_rows, deep_cursor = seeded["depth_rows"], seeded["deep_cursor"]
    deep_page = depth_rows // limit + 1
    keyset_first, _ = timed(client, base, {"cursor": "", "limit": limit}, repeat)
    keyset_deep, deep_body = timed(client, base, {"cursor": deep_cursor, "limit": limit}, repeat)
    offset_first, _ = timed(client, base, {"page": 1, "limit": limit}, repeat)
    offset_deep, offset_body = timed(client, base, {"page": deep_page, "limit": limit}, repeat)
    assert [item["id"] for item in deep_body["data"]] == [item["id"] for item in offset_body["data"]]
    print(f"\naudit details: page size {limit}; deep = row {depth_rows:,} (page {deep_page:,}); median of {repeat}, in process")
    print(f"  keyset  page 1     {keyset_first:8.1f} ms")
    print(f"  keyset  deep page  {keyset_deep:8.1f} ms   ({keyset_deep / keyset_first:.2f}x page 1)")
    print(f"  offset  page 1     {offset_first:8.1f} ms   (includes COUNT(*) for `total`)")
    print(f"  offset  deep page  {offset_deep:8.1f} ms   ({offset_deep / offset_first:.2f}x page 1)")
    stats_ms, _ = timed(client, f"{base}/stats", {}, max(1, repeat // 2))
    print(f"  stats (whole log)  {stats_ms:8.1f} ms")
    print("  database execution time only (EXPLAIN ANALYZE, median):")
    for name, ms in database_only(organization=organization, deep_cursor=deep_cursor, deep_offset=depth_rows, limit=limit, repeat=repeat).items():
        print(f"    {name:17} {ms:8.2f} ms")
    print("  deep keyset query plan (EXPLAIN ANALYZE):")
    for line in explain_keyset(organization=organization, cursor=deep_cursor, limit=limit).splitlines():
        print("    " + line)
    for fmt in ("csv", "jsonl"):
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        response = client.get(f"{base}/export", {"format": fmt})
        lines = nbytes = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            nbytes += len(chunk)
        elapsed = time.perf_counter() - started
        rows = lines - (1 if fmt == "csv" else 0)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"  export {fmt:5}  {rows:,} rows, {nbytes / 1e6:,.0f} MB in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s"
            f"  (peak RSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MB)"
        )
    started = time.perf_counter()
    report = client.get(f"{base}/verify").json()
    elapsed = time.perf_counter() - started
    print(f"  verify        {report} in {elapsed:.1f} s = {report['checked'] / elapsed:,.0f} events/s")


if __name__ == "__main__":
    import sys

    harness.standalone(sys.modules[__name__])
