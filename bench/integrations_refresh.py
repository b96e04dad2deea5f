"""Benchmark: one beat run over 10,000 due integrations, against the local fake OAuth provider, on PostgreSQL.

Seeds COUNT OAuth integrations (one per provider in COUNT/4 organizations, each with its vault data key,
every one holding a real token pair of the fake provider and expiring within 30 minutes), then:

1. the beat task as production runs it: scan what is due and queue one refresh message per
   integration on the Redis broker (the queue is purged afterwards);
2. the refreshes themselves, by WORKERS processes racing over the SAME list of ids, as several
   Celery workers would over redelivered or duplicated messages: each takes the row lock with
   SKIP LOCKED, re-checks that the integration is still due, calls the provider's token endpoint
   (the fake runs in a process of its own), seals the new tokens, writes the log row and the
   audit event. Checks: every integration refreshed exactly once (a second refresh would spend
   a rotated refresh token and come back invalid_grant).

    .venv/bin/python bench/integrations_refresh.py [--integrations 10000] [--workers 1,2]
"""

import argparse
import logging
import multiprocessing
import statistics
import sys
import time
import uuid
from datetime import timedelta

import harness
from django.conf import settings as django_settings
from django.db import connection, connections

from core import clock
from integrations import selectors, tasks, vault
from integrations.models import Integration, IntegrationLog
from integrations.tests.fake_provider import FakeOAuthProvider
from organizations.models import Organization

KEYS = ["gmail", "google_drive", "slack", "github"]


def seed(*, count: int, fake: FakeOAuthProvider) -> float:
    """Bulk-insert `count` due OAuth integrations, one per provider in count/4 organizations; return seconds."""
    started = time.perf_counter()
    organizations = Organization.objects.bulk_create(
        Organization(name=f"Bench integrations {n}", slug=f"bench-int-{n}-{uuid.uuid4().hex[:6]}") for n in range(-(-count // len(KEYS)))
    )
    now = clock.now()
    rows = []
    for n in range(count):
        organization = organizations[n // len(KEYS)]
        tokens = fake.mint()
        rows.append(
            Integration(
                organization=organization,
                key=KEYS[n % len(KEYS)],
                type="oauth",
                secret=vault.seal(organization=organization, payload={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}),
                refreshable=True,
                expires_at=now + timedelta(minutes=5 + n % 20),
                last_refreshed_at=now - timedelta(minutes=55),
                connected_at=now - timedelta(minutes=55),
            )
        )
    Integration.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integrations_integration")
    return time.perf_counter() - started


def beat_queue() -> tuple[float, int]:
    """The production beat run (scan + one broker message per due integration); returns (seconds, queued)."""
    from config.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    try:
        started = time.perf_counter()
        result = tasks.refresh_due_integrations.run()
        seconds = time.perf_counter() - started
        app.control.purge()  # the refreshes are measured below, by our own worker processes
    finally:
        app.conf.task_always_eager = eager
    return seconds, result["queued"]


def _worker(ids: list[str], out) -> None:
    connections.close_all()  # never share the parent's connection across fork
    outcomes = {"refreshed": 0, "skipped": 0, "failed": 0}
    latencies = []
    for integration_id in ids:
        t0 = time.perf_counter()
        outcome = tasks.refresh_integration.apply(args=(integration_id,), throw=False).result
        latencies.append(time.perf_counter() - t0)
        outcomes[outcome if outcome in outcomes else "failed"] += 1
    connections.close_all()
    out.put((outcomes, latencies))


def refresh_with(workers: int, ids: list[str]) -> dict:
    """`workers` processes each walk the whole id list; return timings and outcomes."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    connections.close_all()
    started = time.perf_counter()
    processes = [context.Process(target=_worker, args=(ids, out)) for _ in range(workers)]
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    totals = {"refreshed": 0, "skipped": 0, "failed": 0}
    latencies = []
    for outcomes, lat in results:
        for name, value in outcomes.items():
            totals[name] += value
        latencies += lat
    refreshed_latencies = sorted(latencies)
    return {"seconds": seconds, **totals, "p50": statistics.median(refreshed_latencies) * 1000,
            "p95": refreshed_latencies[int(len(refreshed_latencies) * 0.95)] * 1000}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker-process counts to run, each on fresh data")
    args = parser.parse_args(argv)
    logging.getLogger("celery").setLevel(logging.WARNING)  # one INFO line per task would drown the figures
    if connection.vendor != "postgresql":
        sys.exit("The benchmarks run on PostgreSQL (BENCH_DATABASE_URL).")
    orgs = -(-args.integrations // len(KEYS))
    harness.database_prepare(verbose=False)
    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        harness.data_reset()
        fake = FakeOAuthProvider(token_lifetime=3600)
        seed_seconds = seed(count=args.integrations, fake=fake)
        fake.start_forked()
        fake.install(django_settings)
        try:
            due = [str(i) for i in selectors.refresh_due_ids(now=clock.now())]
            assert len(due) == args.integrations, (len(due), args.integrations)
            queue_seconds, queued = beat_queue()
            result = refresh_with(workers, due)
        finally:
            fake.stop()
        refreshed_once = IntegrationLog.objects.filter(action="REFRESH_SUCCESS").count()
        errors = Integration.objects.exclude(status="active").count()
        rows.append((workers, seed_seconds, queue_seconds, queued, result, refreshed_once, errors))
        print(f"  {workers} worker(s): {result['seconds']:.1f} s, {result['refreshed']} refreshed, {result['skipped']} skipped", flush=True)
    harness.data_reset()

    print()
    print(f"## Integrations beat benchmark ({args.integrations:,} due integrations, {orgs:,} orgs)")
    print(f"{harness.CORES} cores, PostgreSQL {connection.pg_version // 10000}, Redis broker; fake OAuth provider in its own process on loopback.")
    print()
    print("| workers | beat scan + queue | refresh run | refreshes/s | per task p50 / p95 | refreshed once | skipped (locked or done) | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workers, _seed_seconds, queue_seconds, queued, result, refreshed_once, errors in rows:
        print(
            f"| {workers} | {queue_seconds:.2f} s ({queued:,} msgs) | {result['seconds']:.1f} s | "
            f"{result['refreshed'] / result['seconds']:.0f} | {result['p50']:.2f} / {result['p95']:.2f} ms | "
            f"{refreshed_once:,} | {result['skipped']:,} | {errors} |"
        )
    bad = [row for row in rows if row[5] != args.integrations or row[6]]
    if bad:
        print("ERROR: some integrations were not refreshed exactly once")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
