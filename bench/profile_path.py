"""Profile one benchmark path in process with pyinstrument, and time its CPU cost per request.

Seeds the path's data in the benchmark database (as the scenario does), sends the requests
through Django's full handler (every middleware, no network), then prints:
  - CPU ms per request of this process (time.process_time over `--requests`, unprofiled),
    a figure that moves little when other work shares the machine;
  - the queries of one request;
  - pyinstrument's call tree of `--requests` more requests (`--flat`: slowest functions by own time).

`--asgi` instead times the same requests through the ASGI application production serves
(config.asgi, an event loop in this process, 4 requests at a time, as uvicorn hands them
over) beside Django's sync test handler, so the cost of the ASGI plumbing shows on its own.

    .venv/bin/python bench/profile_path.py refresh [--requests 300] [--flat]
    .venv/bin/python bench/profile_path.py ceiling | me | login | members | checks-cold | checks-warm
    .venv/bin/python bench/profile_path.py members --asgi
"""

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import auth_refresh
import harness
import members
import permissions_check
from django.db import connection
from django.test import Client
from django.test.client import ClientHandler
from django.test.utils import CaptureQueriesContext
from pyinstrument import Profiler

from core.handlers import AtomicWritesOnly
from core.testing import asgi_http_request

ASGI_CONCURRENCY = 4


@dataclass(frozen=True)
class Call:
    """One request of a path."""

    method: str
    path: str
    token: str | None = None
    body: str | None = None  # JSON


def _refresh(count: int) -> Callable[[], Call]:
    organization, owner = harness.organization_with_members("refresh", 2)
    tokens = iter(auth_refresh._mint(owner, organization, count))
    return lambda: Call("POST", "/api/v1/auth/refresh", body=json.dumps({"refresh_token": next(tokens)}))


def _members(count: int) -> Callable[[], Call]:
    seeded = members.seed(None)
    return lambda: Call("GET", seeded["path"], token=seeded["token"])


def _checks(*, cold: bool):
    def make(count: int) -> Callable[[], Call]:
        seeded = permissions_check.seed(None)
        body = {"permissions": seeded["permissions"]}
        if cold:
            body["at_least_revision"] = seeded["revision"] + 1_000_000
        return lambda: Call("POST", seeded["path"], token=seeded["token"], body=json.dumps(body))

    return make


def _login(count: int) -> Callable[[], Call]:
    organization, user = harness.organization_with_members("login", 2)
    body = json.dumps({"email": user.email, "password": harness.PASSWORD})
    return lambda: Call("POST", "/api/v1/auth/login", body=body)


def _me(count: int) -> Callable[[], Call]:
    organization, user = harness.organization_with_members("me", 5)
    token = harness.access_token(user, organization)
    return lambda: Call("GET", "/api/v1/users/me", token=token)


def _ceiling(count: int) -> Callable[[], Call]:
    organization, user = harness.organization_with_members("ceiling", 1)
    token = harness.access_token(user, organization)
    return lambda: Call("GET", "/api/v1/bench/ceiling", token=token)


PATHS = {
    "ceiling": _ceiling, "me": _me, "login": _login, "refresh": _refresh, "members": _members,
    "checks-cold": _checks(cold=True), "checks-warm": _checks(cold=False),
}  # fmt: skip


def sync_sender() -> Callable[[Call], None]:
    """Send a call through Django's test handler (the sync middleware chain, no server)."""
    client = Client()
    # As config.wsgi serves it: reads outside the request transaction (core.handlers).
    client.handler = type("ClientHandler", (AtomicWritesOnly, ClientHandler), {})()

    def send(call: Call) -> None:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {call.token}"} if call.token else {}
        if call.method == "GET":
            response = client.get(call.path, **headers)
        else:
            response = client.post(call.path, call.body or "", content_type="application/json", **headers)
        assert response.status_code == 200, response.content[:300]

    return send


async def asgi_send(application, call: Call) -> None:
    """Send a call through the ASGI application as uvicorn would, and wait for the whole body."""
    headers = [(b"content-type", b"application/json")]
    if call.token:
        headers.append((b"authorization", f"Bearer {call.token}".encode()))
    status, body = await asgi_http_request(application, method=call.method, path=call.path, headers=headers, body=(call.body or "").encode())
    assert status == 200, body[:300]


def asgi_cpu_ms(next_call: Callable[[], Call], requests: int) -> float:
    """CPU ms per request through config.asgi, ASGI_CONCURRENCY requests at a time."""
    from config.asgi import application

    async def batch(count: int) -> None:
        for _ in range(count // ASGI_CONCURRENCY):
            await asyncio.gather(*(asgi_send(application, next_call()) for _ in range(ASGI_CONCURRENCY)))

    async def timed() -> float:
        await batch(20 * ASGI_CONCURRENCY)  # warm-up
        started = time.process_time()
        await batch(requests)
        return (time.process_time() - started) * 1000 / requests

    return asyncio.run(timed())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", choices=sorted(PATHS))
    parser.add_argument("--requests", type=int, default=300, help="requests timed, and as many profiled (default 300)")
    parser.add_argument("--flat", action="store_true", help="list functions by own time instead of the call tree")
    parser.add_argument("--asgi", action="store_true", help="time the path through config.asgi beside the sync handler; no profile")
    args = parser.parse_args()
    harness.database_prepare(verbose=False)
    harness.data_reset()
    warmup = 20
    next_call = PATHS[args.path](warmup + 1 + 2 * args.requests + 20 * ASGI_CONCURRENCY)
    send = sync_sender()

    def request() -> None:
        send(next_call())

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
    if args.asgi:
        connection.close()  # the ASGI requests run on threads of their own, with their own connections
        print(f"{args.path}: {asgi_cpu_ms(next_call, args.requests):.2f} CPU ms per request through config.asgi "
              f"({ASGI_CONCURRENCY} at a time), {args.requests} requests")  # fmt: skip
        harness.data_reset()
        return
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
