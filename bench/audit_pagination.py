"""Benchmark: audit-log pages deep in a large log, and export throughput (PostgreSQL only).

Seeds COUNT hash-chained events for one new organization with COPY, then times, through the real
views (Django's test client, in process, no network):
  - keyset page 1 vs a keyset page ~90 % deep (`?cursor=`), the index keeps them alike;
  - page/limit page 1 vs the same depth with OFFSET (`?page=`), for contrast;
  - the streamed export (CSV and JSON lines), in rows/s;
  - verification of the whole chain, in events/s.

Not part of `make test`. Run against a PostgreSQL database you can fill (migrated first):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/audit_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/audit_bench .venv/bin/python bench/audit_pagination.py --count 1000000
"""
import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# Measure the code as served: no query log, no throttling of the benchmark's own requests.
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("THROTTLE_USER", "1000000/min")
os.environ.setdefault("THROTTLE_ANON", "1000000/min")
os.environ.setdefault("THROTTLE_LOGIN", "1000000/min")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402
from audit import chain, selectors  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from core import clock  # noqa: E402
from organizations import services as org_services  # noqa: E402

PASSWORD = "Bench-passphrase-123!"
ACTIONS = ["doc.edited", "doc.created", "member.role_changed", "user.logged_in", "api_key.created", "team.updated"]
COLUMNS = (
    "id", "created_at", "action", "actor_type", "actor_id", "actor_email", "impersonator_id", "organization_id",
    "target_type", "target_id", "changes", "metadata", "ip", "user_agent", "request_id", "sequence", "prev_hash", "hash",
)  # fmt: skip


def seed(*, organization_id: uuid.UUID, count: int, span_days: int) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=1_000_000, help="events to seed (default 1,000,000)")
    parser.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    parser.add_argument("--depth", type=float, default=0.9, help="how deep the deep page is, 0..1 (default 0.9)")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per page, median reported (default 9)")
    parser.add_argument("--no-export", action="store_true", help="skip the export runs")
    parser.add_argument("--no-verify", action="store_true", help="skip the chain verification run")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")

    tag = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"bench-{tag}@bench.example", password=PASSWORD)
    organization = org_services.organization_create(user=owner, name=f"Bench {tag}", slug=f"bench-{tag}", website="", company_size="", request=None)
    client = Client()
    login = client.post("/api/v1/auth/login", {"email": owner.email, "password": PASSWORD, "organization_id": str(organization.id)}, content_type="application/json")
    assert login.status_code == 200, login.content
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {login.json()['access_token']}"
    base = f"/api/v1/orgs/{organization.id}/audit-logs"

    print(f"database {connection.settings_dict['NAME']} on PostgreSQL {connection.pg_version}; organization {organization.id}")
    print(f"seeding {args.count:,} events ...", flush=True)
    seconds = seed(organization_id=organization.id, count=args.count, span_days=80)
    total = AuditEvent.objects.filter(organization_id=organization.id).count()
    print(f"seeded {args.count:,} events in {seconds:.1f} s ({args.count / seconds:,.0f} events/s); the org has {total:,}")

    limit = args.limit
    depth_rows = int(total * args.depth) // limit * limit  # a page boundary, so both modes show the same rows
    # The cursor of the row just before the deep page, found once (slowly) with OFFSET.
    anchor = selectors.event_list(organization=organization)[depth_rows - 1 : depth_rows].get()
    deep_cursor = selectors.cursor_encode(anchor)
    deep_page = depth_rows // limit + 1

    keyset_first, first_body = timed(client, base, {"cursor": "", "limit": limit}, args.repeat)
    keyset_deep, deep_body = timed(client, base, {"cursor": deep_cursor, "limit": limit}, args.repeat)
    offset_first, _ = timed(client, base, {"page": 1, "limit": limit}, args.repeat)
    offset_deep, offset_body = timed(client, base, {"page": deep_page, "limit": limit}, args.repeat)
    assert [item["id"] for item in deep_body["data"]] == [item["id"] for item in offset_body["data"]]
    assert len(first_body["data"]) == limit and deep_body["next_cursor"]

    print(f"\npage size {limit}; deep = row {depth_rows:,} of {total:,} (page {deep_page:,}); median of {args.repeat} requests")
    print(f"  keyset  page 1     {keyset_first:8.1f} ms")
    print(f"  keyset  deep page  {keyset_deep:8.1f} ms   ({keyset_deep / keyset_first:.2f}x page 1)")
    print(f"  offset  page 1     {offset_first:8.1f} ms   (includes COUNT(*) for `total`)")
    print(f"  offset  deep page  {offset_deep:8.1f} ms   ({offset_deep / offset_first:.2f}x page 1)")
    stats_ms, _ = timed(client, f"{base}/stats", {}, max(1, args.repeat // 2))
    print(f"  stats (whole log)  {stats_ms:8.1f} ms")
    print("  database execution time only (EXPLAIN ANALYZE, median):")
    for name, ms in database_only(organization=organization, deep_cursor=deep_cursor, deep_offset=depth_rows, limit=limit, repeat=args.repeat).items():
        print(f"    {name:17} {ms:8.2f} ms")
    plan = explain_keyset(organization=organization, cursor=deep_cursor, limit=limit)
    print("  deep keyset query plan (EXPLAIN ANALYZE):")
    for line in plan.splitlines():
        print("    " + line)

    if not args.no_export:
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
    if not args.no_verify:
        started = time.perf_counter()
        response = client.get(f"{base}/verify")
        elapsed = time.perf_counter() - started
        report = response.json()
        print(f"  verify        {report} in {elapsed:.1f} s = {report['checked'] / elapsed:,.0f} events/s")


if __name__ == "__main__":
    main()
