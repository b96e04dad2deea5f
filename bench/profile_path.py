"""Profile one benchmark path in process with pyinstrument, and time its CPU cost per request.

Seeds the path's data in the benchmark database (as the scenario does), sends the requests
through Django's full handler (every middleware, no network), then prints:
  - CPU ms per request of this process (time.process_time over `--requests`, unprofiled),
    a figure that moves little when other work shares the machine;
  - the queries of one request;
  - pyinstrument's call tree of `--requests` more requests (`--flat`: slowest functions by own time).

    .venv/bin/python bench/profile_path.py refresh [--requests 300] [--flat]
    .venv/bin/python bench/profile_path.py members | checks-cold | checks-warm
"""
import argparse
import json
import sys
import time

import harness
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pyinstrument import Profiler

import auth_refresh
import members
import permissions_check


def _refresh(count: int):
    organization, owner = harness.organization_with_members("refresh", 2)
    tokens = iter(auth_refresh._mint(owner, organization, count))
    client = Client()
    return lambda: client.post("/api/v1/auth/refresh", json.dumps({"refresh_token": next(tokens)}), content_type="application/json")


def _members(count: int):
    seeded = members.seed(None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {seeded['token']}")
    return lambda: client.get(seeded["path"])


def _checks(*, cold: bool):
    def make(count: int):
        seeded = permissions_check.seed(None)
        body = {"permissions": seeded["permissions"]}
        if cold:
            body["at_least_revision"] = seeded["revision"] + 1_000_000
        client = Client(HTTP_AUTHORIZATION=f"Bearer {seeded['token']}")
        return lambda: client.post(seeded["path"], json.dumps(body), content_type="application/json")

    return make


def _login(count: int):
    organization, user = harness.organization_with_members("login", 2)
    body = json.dumps({"email": user.email, "password": harness.PASSWORD})
    client = Client()
    return lambda: client.post("/api/v1/auth/login", body, content_type="application/json")


def _ceiling(count: int):
    organization, user = harness.organization_with_members("ceiling", 1)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {harness.access_token(user, organization)}")
    return lambda: client.get("/api/v1/bench/ceiling")


PATHS = {"ceiling": _ceiling, "login": _login, "refresh": _refresh, "members": _members, "checks-cold": _checks(cold=True), "checks-warm": _checks(cold=False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", choices=sorted(PATHS))
    parser.add_argument("--requests", type=int, default=300, help="requests timed, and as many profiled (default 300)")
    parser.add_argument("--flat", action="store_true", help="list functions by own time instead of the call tree")
    args = parser.parse_args()
    harness.database_prepare(verbose=False)
    harness.data_reset()
    warmup = 20
    send = PATHS[args.path](warmup + 1 + 2 * args.requests)

    def request() -> None:
        response = send()
        assert response.status_code == 200, response.content[:300]

    for _ in range(warmup):
        request()
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as context:
        request()
    # Copied now: the context reads the connection's log lazily, and every request clears it.
    queries = list(context.captured_queries)
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    for _ in range(args.requests):
        request()
    cpu_ms = (time.process_time() - started_cpu) * 1000 / args.requests
    wall_ms = (time.perf_counter() - started_wall) * 1000 / args.requests
    print(f"{args.path}: {cpu_ms:.2f} CPU ms per request in process ({wall_ms:.2f} ms wall), {args.requests} requests")
    print(f"queries of one request ({len(queries)}):")
    for query in queries:
        print(f"  {query['sql'][:160]}")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(args.requests):
        request()
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, flat=args.flat))
    harness.data_reset()


if __name__ == "__main__":
    sys.exit(main())
