"""Plumbing shared by the benchmarks: environment, database, gunicorn, wrk, and the one table.

Each scenario module (members.py, permissions_check.py, auth_refresh.py, auth_login.py,
audit_pagination.py) has `seed(bench)` (writes its data, returns what `measure` needs) and
`measure(bench, seeded)` (returns table rows and goals). `run.py` runs them all; each module
also runs alone (`python bench/members.py`). Either way two ceilings are measured in the same
run, before and after the scenarios, and every row shows its ratio to each: the in-stack ceiling
(core/bench.py, served by the project's own stack) and the bare ceiling (config.settings.bare:
Django + DRF + simplejwt with no middleware, a second gunicorn with the same binary,
gunicorn.conf.py and worker class; issue 17).
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "scenario.lua"
CORES = os.cpu_count() or 1

# The benchmark's own stores, never the ones a developer's DATABASE_URL/REDIS_URL name: the run
# empties its audit table and its Redis database.
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/saas_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
UNLIMITED = "100000000/min"
SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.dev",
    "DJANGO_DEBUG": "false",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": REDIS_URL,
    "CACHE_KEY_PREFIX": "bench",
    "BENCH_CEILING": "true",
    # Throttles would cap every scenario at a few requests: lifted for the benchmark run only.
    "THROTTLE_USER": UNLIMITED,
    "THROTTLE_ANON": UNLIMITED,
    "THROTTLE_LOGIN": UNLIMITED,
    # Access tokens minted at seeding time must outlive the 1,000,000-event seed and the run.
    "JWT_ACCESS_MINUTES": "240",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}
os.environ.update(SERVER_ENV)

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

EMAIL_DOMAIN = "bench.example"
CEILING_PATH = "/api/v1/bench/ceiling"
BARE_PATH = "/api/v1/bare/me"  # config/bare/urls.py
PASSWORD = "Bench-passphrase-123!"


# --- results -----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a scenario's figures."""

    key: str
    label: str
    rps: float
    p50: float  # milliseconds
    p95: float
    p99: float
    requests: int = 0
    errors: int = 0
    connections: int = 0
    cpu_ms: float | None = None  # server CPU time per request (all gunicorn processes)
    reference: bool = False  # a reference, not a scenario (e.g. the password hash alone): no ratio to the ceiling
    bare: bool = False  # served by the bare server (config.settings.bare), not the project


@dataclass
class Goal:
    """A target from issue 7 and how to judge it from the rows."""

    text: str
    check: Callable[[dict[str, Row]], tuple[bool, str]]


@dataclass
class Measured:
    rows: list[Row] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)


# --- the server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serving(wsgi: bool = False, *, package: str = "config", asgi: bool = False) -> tuple[str, str]:
    """(worker class, application) as production serves HTTP: from gunicorn.conf.py, like the Dockerfile's CMD.

    `wsgi`: the WSGI application on the project's threaded workers (core.wsgi_worker, the compose `web` service);
    `asgi`: the ASGI application on the project's uvicorn workers (the compose `asgi` service).
    `package`: where the asgi/wsgi modules are (`config.bare` for the bare ceiling).
    """
    import runpy

    if wsgi:
        return "core.wsgi_worker.ThreadWorker", f"{package}.wsgi:application"
    if asgi:
        return "core.asgi_worker.UvicornWorker", f"{package}.asgi:application"
    worker_class = str(runpy.run_path(str(ROOT / "gunicorn.conf.py")).get("worker_class", "sync"))
    # Uvicorn workers serve the ASGI application; gunicorn's own workers the WSGI one.
    application = f"{package}.asgi:application" if "uvicorn" in worker_class.lower() else f"{package}.wsgi:application"
    return worker_class, application


class Server:
    """gunicorn with the project's gunicorn.conf.py on a free loopback port.

    `bare`: the bare ceiling instead (config.settings.bare, config/bare/), with the same gunicorn
    binary, gunicorn.conf.py, worker class, workers and database/pool environment.
    `env`: variables set last in the server's environment (bench/servers.py: the pool under WSGI too).
    """

    def __init__(self, *, workers: int, threads: int, tmp: Path, wsgi: bool = False, bare: bool = False, env: dict[str, str] | None = None, asgi: bool = False):
        self.workers, self.threads, self.tmp, self.bare = workers, threads, tmp, bare
        self.env = dict(env or {})
        self.worker_class, self.application = serving(wsgi, package="config.bare" if bare else "config", asgi=asgi)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = "bare" if bare else "project"
        self.log = tmp / f"gunicorn-{self.name}.log"
        # The bare URLconf has one route: any HTTP answer from it (a 401) means the workers serve.
        self.ready_path = BARE_PATH if bare else "/health/live"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_THREADS": str(self.threads),  # used by gthread workers only
            # No recycling mid-measurement: a respawned worker re-imports Django (a second of CPU).
            "GUNICORN_MAX_REQUESTS": "0",
            # Each server its own directory: gunicorn.conf.py's on_starting empties it.
            "PROMETHEUS_MULTIPROC_DIR": str(self.tmp / f"prometheus-{self.name}"),
        }
        if self.bare:
            from rest_framework_simplejwt.state import token_backend  # the project's (accounts/token_backend.py)

            env["DJANGO_SETTINGS_MODULE"] = "config.settings.bare"
            # The bare ceiling verifies the project's tokens with plain simplejwt and the current public key.
            env["JWT_VERIFYING_KEY"] = token_backend.verifying_key
        # Connections kept in psycopg's pool in every mode, as docker-compose does (under ASGI each
        # request's sync code runs on a thread of its own: never a connection per thread).
        env["DATABASE_CONN_MAX_AGE"] = "0"
        env["DATABASE_POOL_MAX_SIZE"] = os.environ.get("BENCH_POOL_MAX_SIZE", "10")
        env.update(self.env)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), self.application, "--config", "gunicorn.conf.py", "--worker-class", self.worker_class],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.wait_serving("gunicorn")

    def wait_serving(self, program: str) -> None:
        """Return once the server answers HTTP and all its workers run (90 s at most)."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{program} exited; see {self.log}:\n{self.log.read_text()[-3000:]}")
            try:
                try:
                    with urllib.request.urlopen(f"{self.base}{self.ready_path}", timeout=2):
                        pass
                except urllib.error.HTTPError:
                    pass  # an HTTP answer: the server is up
                if len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{program} did not answer in 90 s:\n{self.log.read_text()[-3000:]}")

    def describe(self) -> str:
        if "uvicorn" in self.worker_class.lower():
            pool = os.environ.get("BENCH_POOL_MAX_SIZE", "10")
            return f"{self.workers} workers of {self.worker_class} serving {self.application}, DATABASE_POOL_MAX_SIZE={pool}"
        return f"{self.workers} workers of {self.worker_class} × {self.threads} threads serving {self.application}"

    def worker_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the master and its workers."""
        return _cpu_seconds(self.process.pid) + sum(_cpu_seconds(pid) for pid in self.worker_pids())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown of its workers
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def call(self, method: str, path: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
        """One request through the server (smoke check before a scenario): (status, JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


# --- one benchmark run -------------------------------------------------------------------


class Bench:
    """A run: arguments, the server, and wrk."""

    def __init__(self, args: argparse.Namespace, tmp: Path):
        self.args, self.tmp = args, tmp
        self.server: Server | None = None
        self._reports = 0
        # Send a Host header on every request (bench/servers.py): scenario.lua formats its fixed
        # request before wrk knows the host, so GETs go without one, which granian passes on empty.
        self.host_header = False

    def expect(self, method: str, path: str, *, status: int = 200, **kwargs) -> dict:
        """Smoke-check a scenario's request once; stop the run with its body when it fails."""
        got, body = self.server.call(method, path, **kwargs)
        if got != status:
            raise RuntimeError(f"{method} {path} answered {got}, expected {status}: {json.dumps(body)[:500]}")
        return body

    def wrk(
        self,
        key: str,
        label: str,
        *,
        path: str,
        method: str = "GET",
        token: str | None = None,
        body: dict | None = None,
        refresh_tokens: list[str] | None = None,
        warmup_tokens: list[str] | None = None,
        connections: int | None = None,
        duration: float | None = None,
        warmup: float | None = None,
        server: "Server | None" = None,
    ) -> Row:
        """Load one request shape with wrk (warm-up first) and return its row (`server`: another than the project's)."""
        server = server or self.server
        connections = connections or self.args.connections
        duration = duration or self.args.duration
        warmup = self.args.warmup if warmup is None else warmup
        if warmup > 0:
            self._wrk_once(path=path, method=method, token=token, body=body, tokens=warmup_tokens,
                           connections=connections, duration=warmup, server=server)  # fmt: skip
        before = server.cpu_seconds()
        report = self._wrk_once(path=path, method=method, token=token, body=body, tokens=refresh_tokens,
                                connections=connections, duration=duration, server=server)  # fmt: skip
        cpu = server.cpu_seconds() - before
        requests = report["requests"]
        errors = report["status_errors"] + report["socket_errors"] + report["timeouts"]
        if refresh_tokens is not None and requests > len(refresh_tokens):
            raise RuntimeError(f"{label}: {requests} requests but only {len(refresh_tokens)} refresh tokens; mint more")
        return Row(
            key=key,
            label=label,
            rps=requests / (report["duration_us"] / 1e6),
            p50=report["p50_us"] / 1000,
            p95=report["p95_us"] / 1000,
            p99=report["p99_us"] / 1000,
            requests=requests,
            errors=errors,
            connections=connections,
            cpu_ms=cpu * 1000 / requests if requests else None,
            bare=server.bare,
        )

    def _wrk_once(self, *, path, method, token, body, tokens, connections, duration, server) -> dict:
        self._reports += 1
        report = self.tmp / f"wrk-{self._reports}.json"
        env = {
            **os.environ,
            "BENCH_METHOD": method,
            "BENCH_PATH": path,
            "BENCH_BODY": json.dumps(body) if body is not None else "",
            "BENCH_TOKEN": token or "",
            "BENCH_REFRESH_TOKENS": "",
            "BENCH_REPORT": str(report),
        }
        if tokens is not None:
            tokens_file = self.tmp / f"tokens-{self._reports}.txt"
            tokens_file.write_text("\n".join(tokens) + "\n")
            env["BENCH_REFRESH_TOKENS"] = str(tokens_file)
        command = [
            self.args.wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
            "-s", str(WRK_SCRIPT), server.base,
        ]  # fmt: skip
        if self.host_header:
            command[1:1] = ["-H", f"Host: 127.0.0.1:{server.port}"]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(report.read_text())


# --- database ----------------------------------------------------------------------------


def database_prepare(*, verbose: bool) -> None:
    """Create the benchmark database when missing and migrate it."""
    import psycopg

    url = urllib.parse.urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"BENCH_DATABASE_URL must name a database of its own (with 'bench' in its name), not {name!r}")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}; migrating (about a minute on 2 cores) ...", flush=True)
    call_command("migrate", interactive=False, verbosity=1 if verbose else 0)


def data_reset() -> None:
    """Empty the benchmark database's users, orgs (and all that hangs off them), audit log and Redis database."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from accounts.models import User
    from audit.models import AuditEvent
    from organizations.models import Organization

    tables = ", ".join(model._meta.db_table for model in (AuditEvent, User, Organization, AccessAttempt, AccessFailureLog, AccessLog))
    from django.db import OperationalError

    for attempt in range(3):
        try:
            with connection.cursor() as cursor:
                # TRUNCATE (the database is the benchmark's own): the audit trigger refuses DELETE, and
                # CASCADE reaches every table that points at a user or an org, whichever apps exist.
                cursor.execute(f"TRUNCATE {tables} CASCADE")
            break
        except OperationalError:  # a deadlock with a straggling connection: try again
            if attempt == 2:
                raise
            time.sleep(2)
    cache.clear()  # django-redis: FLUSHDB of the benchmark's own Redis database


# --- seeding helpers used by several scenarios --------------------------------------------

_password_hash: str | None = None


def password_hash() -> str:
    """The production hasher's (Argon2) encoding of PASSWORD, computed once and shared by every bench user."""
    global _password_hash
    if _password_hash is None:
        from django.contrib.auth.hashers import make_password

        _password_hash = make_password(PASSWORD)
    return _password_hash


def users_create(tag: str, count: int) -> list:
    """`count` active bench users whose password is PASSWORD (one bulk insert)."""
    from accounts.models import User

    users = [User(email=f"{tag}-{n}@{EMAIL_DOMAIN}", full_name=f"Bench {tag} {n}", password=password_hash(), is_active=True) for n in range(count)]
    return User.objects.bulk_create(users)


def organization_with_members(tag: str, members: int):
    """An org made by the real service (owner, audit event), plus `members - 1` more members in bulk.

    Returns (organization, owner).
    """
    from core.actor import Actor
    from organizations import services as org_services
    from organizations.models import Membership

    users = users_create(tag, members)
    owner = users[0]
    organization = org_services.organization_create(user=owner, name=f"Bench {tag}", slug=f"bench-{tag}", actor=Actor.for_user(owner))
    roles = ["admin", "member", "member", "viewer"]
    Membership.objects.bulk_create(
        Membership(organization=organization, user=user, role=roles[n % len(roles)], display_name=f"Member {n}") for n, user in enumerate(users[1:])
    )
    return organization, owner


def access_token(user, organization) -> str:
    """A fresh session's access token with `organization` active."""
    from accounts.sessions import session_create
    from core.actor import Actor

    return session_create(user=user, actor=Actor.for_user(user), organization_id=organization.id).access_token


# --- output ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def table(rows: list[Row], ceiling_rps: float, bare_rps: float) -> str:
    """The table: absolute figures and the ratios to the in-stack and the bare ceiling's requests/s."""
    header = (
        f"| {'scenario':<52} | {'req/s':>8} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} "
        f"| {'× ceiling':>9} | {'× bare':>6} | {'CPU ms/req':>10} | {'conns':>5} | {'errors':>6} |"
    )
    lines = [header, "|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|"]
    for row in rows:
        ratio = "—" if row.reference else f"{row.rps / ceiling_rps:.2f}"
        bare = "—" if row.reference else f"{row.rps / bare_rps:.2f}"
        cpu = f"{row.cpu_ms:.2f}" if row.cpu_ms is not None else "—"
        conns = str(row.connections) if row.connections else "—"
        errors = str(row.errors) if not row.reference else "—"
        lines.append(
            f"| {row.label:<52} | {row.rps:>8.1f} | {row.p50:>7.2f} | {row.p95:>7.2f} | {row.p99:>7.2f} "
            f"| {ratio:>9} | {bare:>6} | {cpu:>10} | {conns:>5} | {errors:>6} |"
        )
    return "\n".join(lines)


# Issue 17's goals: ratios to the bare ceiling (benchmark output, never test asserts).
BARE_GOALS = [("users_me", "GET users/me", 0.6), ("members", "members list (20)", 0.4), ("checks_warm", "check-many (50) warm", 0.4)]
REFRESH_PER_SERVER_CORE = 240


def bare_goals(by_key: dict[str, Row]) -> list[Goal]:
    """Issue 17's goals for the scenarios measured in this run."""
    goals = []
    for key, text, minimum in BARE_GOALS:
        if key in by_key:

            def check(rows, key=key, minimum=minimum):
                ratio = rows[key].rps / rows["bare"].rps
                return ratio >= minimum, f"{ratio:.2f}× bare req/s"

            goals.append(Goal(f"{text} ≥ {minimum}× bare ceiling req/s", check))
    if "refresh" in by_key:

        def refresh(rows):
            cpu_ms = rows["refresh"].cpu_ms
            per_core = 1000 / cpu_ms if cpu_ms else 0.0
            return per_core >= REFRESH_PER_SERVER_CORE, f"{per_core:.0f} req/s per core of server CPU"

        goals.append(Goal(f"refresh ≥ {REFRESH_PER_SERVER_CORE} req/s per core of server CPU", refresh))
    return goals


# --- entry point -------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--duration", type=float, default=10, help="seconds measured per scenario (default 10)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up load before each (default 2)")
    p.add_argument("--connections", type=int, default=8, help="concurrent wrk connections (default 8)")
    p.add_argument("--workers", type=int, default=CORES + 1, help=f"gunicorn workers (default cores + 1 = {CORES + 1})")
    p.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker, with --wsgi (default 1)")
    p.add_argument(
        "--wsgi", action="store_true", help="serve config.wsgi on the project's threaded workers (core.wsgi_worker) whatever gunicorn.conf.py serves"
    )
    p.add_argument("--audit-events", type=int, default=1_000_000, help="audit events seeded (default 1,000,000)")
    p.add_argument("--keep-data", action="store_true", help="leave the seeded data in the database afterwards")
    p.add_argument("--keep-server", action="store_true", help="print the server address and wait for Enter before stopping")
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="wrk binary")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(modules: list, description: str, argv: list[str] | None = None) -> int:
    """Seed, serve, measure the ceiling and every module's scenarios, print the table and goals."""
    p = parser(description)
    for module in modules:
        if hasattr(module, "add_arguments"):
            module.add_arguments(p)
    args = p.parse_args(argv)
    if not shutil.which(args.wrk):
        sys.exit("wrk is needed: apt-get install wrk (https://github.com/wg/wrk)")
    if connection.vendor != "postgresql":
        sys.exit("The benchmarks run on PostgreSQL (BENCH_DATABASE_URL).")

    started = time.monotonic()
    load_before = _load()
    tmp = Path(tempfile.mkdtemp(prefix="saas-bench-"))
    bench = Bench(args, tmp)
    bare_server: Server | None = None
    try:
        database_prepare(verbose=args.verbose)
        data_reset()
        print("seeding ...", flush=True)
        ceiling_org, ceiling_user = organization_with_members("ceiling", 1)
        ceiling_token = access_token(ceiling_user, ceiling_org)
        seeded = {}
        for module in modules:
            t0 = time.monotonic()
            seeded[module.__name__] = module.seed(bench)
            print(f"  {module.__name__}: {time.monotonic() - t0:.1f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        connection.close()  # the server's workers must not inherit anything from this process

        bench.server = Server(workers=args.workers, threads=args.threads, tmp=tmp, wsgi=args.wsgi)
        bench.server.start()
        # The bare ceiling: a second gunicorn, same binary, config file, worker class and workers,
        # idle while the project is measured (and the project's idle while it is).
        bare_server = Server(workers=args.workers, threads=args.threads, tmp=tmp, wsgi=args.wsgi, bare=True)
        bare_server.start()
        print(f"gunicorn: {bench.server.describe()} on {bench.server.base}; bare ceiling on {bare_server.base}; measuring ...", flush=True)
        status, body = bare_server.call("GET", BARE_PATH, token=ceiling_token)
        if (status, body) != (200, {"id": str(ceiling_user.id), "email": ceiling_user.email}):
            raise RuntimeError(f"GET {BARE_PATH} on the bare server answered {status}: {json.dumps(body)[:500]}")
        bench.expect("GET", CEILING_PATH, token=ceiling_token)
        bare_label = "bare ceiling: DRF + simplejwt, no middleware"
        bare_first = bench.wrk("bare", bare_label, path=BARE_PATH, token=ceiling_token, server=bare_server)
        first = bench.wrk("ceiling", "in-stack ceiling: DRF view + simplejwt", path=CEILING_PATH, token=ceiling_token)
        measured = Measured()
        for module in modules:
            result = module.measure(bench, seeded[module.__name__])
            for row in result.rows:
                print(f"  {row.label}: {row.rps:.1f} req/s, p50 {row.p50:.2f} ms", flush=True)
            measured.rows += result.rows
            measured.goals += result.goals
        last = bench.wrk("ceiling", "ceiling", path=CEILING_PATH, token=ceiling_token)
        bare_last = bench.wrk("bare", bare_label, path=BARE_PATH, token=ceiling_token, server=bare_server)
        ceiling = _ceiling_of(first, last)
        bare = _ceiling_of(bare_first, bare_last)
        if args.keep_server:
            input(f"server still at {bench.server.base} (bare: {bare_server.base}); press Enter to stop ... ")
    finally:
        if bench.server is not None:
            bench.server.stop()
        if bare_server is not None:
            bare_server.stop()
        if not args.keep_data:
            data_reset()
        shutil.rmtree(tmp, ignore_errors=True)

    served = bench.server.describe()
    rows = [bare, ceiling, *measured.rows]
    by_key = {row.key: row for row in rows}
    measured.goals += bare_goals(by_key)
    print()
    print(f"## Benchmark {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"{CORES} cores ({_cpu_model()}), Python {platform.python_version()}, PostgreSQL {connection.pg_version // 10000}, "
        f"Redis cache; gunicorn {served} (gunicorn.conf.py, config.settings.dev "
        f"with DEBUG off); wrk 1 thread on loopback, {args.duration:g} s per scenario after {args.warmup:g} s warm-up; "
        f"load average before {load_before}, after {_load()}."
    )
    print(
        f"Ceilings, each the mean of two runs before and after the scenarios: in-stack {first.rps:.0f} and {last.rps:.0f} req/s "
        f"(core/bench.py in the project's stack); bare {bare_first.rps:.0f} and {bare_last.rps:.0f} req/s "
        f"(config.settings.bare: no middleware, Django's stock handler, same gunicorn settings, database and cache)."
    )
    print()
    print(table(rows, ceiling.rps, bare.rps))
    print()
    failed_rows = [row.label for row in rows if row.errors]
    all_met = True
    for goal in measured.goals:
        met, detail = goal.check(by_key)
        all_met &= met
        print(f"goal  {goal.text:<58} {detail:<34} {'MET' if met else 'NOT MET'}")
    if failed_rows:
        print(f"ERRORS (non-2xx or socket errors) in: {', '.join(failed_rows)}")
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 1 if failed_rows else 0


def _ceiling_of(first: Row, last: Row) -> Row:
    def mean(name: str) -> float:
        return statistics.fmean([getattr(first, name), getattr(last, name)])

    return Row(
        key=first.key,
        label=first.label,
        rps=mean("rps"),
        p50=mean("p50"),
        p95=mean("p95"),
        p99=mean("p99"),
        requests=first.requests + last.requests,
        errors=first.errors + last.errors,
        connections=first.connections,
        cpu_ms=mean("cpu_ms") if first.cpu_ms and last.cpu_ms else None,
        bare=first.bare,
    )


def standalone(module, argv: list[str] | None = None) -> None:
    """Run one scenario module with the ceiling (`python bench/<module>.py`)."""
    sys.exit(main([module], (module.__doc__ or "").splitlines()[0], argv))
