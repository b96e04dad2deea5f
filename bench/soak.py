"""A bounded soak under faults (`make soak`, issue 19): the app served as production serves it, a mixed load, each store stopped and restarted mid-run.

Self-contained and never touching the machine's shared PostgreSQL or Redis: it starts its own
PostgreSQL cluster (initdb into a temporary directory, a spare loopback port, trust auth) and its
own redis-server (spare port, no persistence), migrates and seeds (an org with an owner, members,
teams, a session per client), serves the app with gunicorn, gunicorn.conf.py and
`config.settings.prod` (gunicorn.conf.py's worker class, the psycopg pool, the Redis cache, Celery's broker on
that Redis), and drives `--clients` closed-loop clients for `--duration` seconds: users/me,
members, teams list and create, audit logs, invites, token refresh (each client its own refresh
chain). Mid-run it stops PostgreSQL (`pg_ctl stop`) for `--pg-down` seconds and later Redis
(SHUTDOWN NOSAVE) for `--redis-down` seconds. Afterwards it checks that every acknowledged write
exists and every audit chain verifies, and prints a per-10-second table, each fault's timings
and every goal of issue 19 with its measured value. Goal misses are output, not failures: the
exit status is 0 unless the soak itself broke. Everything it started is stopped and removed at
the end, also on Ctrl-C.

    .venv/bin/python bench/soak.py [--duration 240] [--clients 16] [--pg-at 60 --pg-down 6] [--redis-at 140 --redis-down 20]
"""

import argparse
import io
import os
import runpy
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import soak_load  # noqa: E402
import soak_report  # noqa: E402
from soak_stores import PostgresCluster, RedisInstance, free_port  # noqa: E402

CORES = os.cpu_count() or 1
DATABASE = "saas_soak"
PASSWORD = "Soak-passphrase-123!"
EMAIL_DOMAIN = "soak.example"
UNLIMITED = "100000000/min"


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=240, help="seconds of load (default 240)")
    p.add_argument("--clients", type=int, default=16, help="concurrent closed-loop clients, each on its own keep-alive connection (default 16)")
    p.add_argument("--members", type=int, default=20, help="members of the soak's org (default 20; at least clients + 1)")
    p.add_argument("--workers", type=int, default=CORES + 1, help=f"gunicorn workers (WEB_CONCURRENCY; default cores + 1 = {CORES + 1})")
    p.add_argument("--pool-size", type=int, default=10, help="DATABASE_POOL_MAX_SIZE per worker (default 10, as docker-compose sets it)")
    p.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help="GUNICORN_MAX_REQUESTS for the run (default: gunicorn.conf.py's own default; 0 turns recycling off)",
    )
    p.add_argument(
        "--worker-class",
        default=None,
        help="gunicorn worker class instead of gunicorn.conf.py's (e.g. uvicorn_worker.UvicornWorker, to compare with the stock worker)",
    )
    p.add_argument("--pg-at", type=float, default=60, help="seconds into the load when PostgreSQL is stopped (default 60; negative: never)")
    p.add_argument("--pg-down", type=float, default=6, help="seconds PostgreSQL stays down (default 6)")
    p.add_argument("--pg-stop-mode", choices=["fast", "immediate"], default="fast", help="pg_ctl stop -m (default fast)")
    p.add_argument("--redis-at", type=float, default=140, help="seconds into the load when Redis is stopped (default 140; negative: never)")
    p.add_argument("--redis-down", type=float, default=20, help="seconds Redis stays down (default 20)")
    p.add_argument("--timeout", type=float, default=10, help="client-side timeout per request, seconds (default 10)")
    p.add_argument("--seed", type=int, default=19, help="random seed of the clients' mix (default 19)")
    p.add_argument("--keep-logs", type=Path, default=None, help="copy the server, PostgreSQL and Redis logs into this directory")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    args.members = max(args.members, args.clients + 1)
    faults = sorted(
        [(args.pg_at, args.pg_at + args.pg_down, "PostgreSQL"), (args.redis_at, args.redis_at + args.redis_down, "Redis")],
    )
    faults = [fault for fault in faults if fault[0] >= 0]
    for (_start, end, name), following in zip(faults, faults[1:], strict=False):
        if following[0] < end + 10:
            p.error(f"{name}'s fault ends at {end:g} s: the next one must start at least 10 s later (it starts at {following[0]:g} s)")
    if faults and faults[-1][1] + 10 > args.duration:
        p.error(f"the last fault ends at {faults[-1][1]:g} s: --duration must leave at least 10 s after it")
    return args


# --- environment -------------------------------------------------------------------------


def app_environment(pg: PostgresCluster, redis: RedisInstance) -> dict[str, str]:
    """The production settings' environment, pointing at the soak's own stores (as docker-compose sets it)."""
    from cryptography.fernet import Fernet

    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback, no proxy in front.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "NUM_PROXIES": "0",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{pg.port}/{DATABASE}",
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": redis.url(0),
        "CACHE_KEY_PREFIX": "soak",
        # As compose: the broker on the same Redis, tasks queued (no worker runs: they wait there,
        # or in the outbox table while Redis is down).
        "CELERY_BROKER_URL": redis.url(1),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CHANNELS_REDIS_URL": redis.url(2),
        "INTEGRATIONS_MASTER_KEYS": Fernet.generate_key().decode(),
        # Throttles would cap every client at 60 requests a minute: lifted for the soak only.
        "THROTTLE_USER": UNLIMITED,
        "THROTTLE_ANON": UNLIMITED,
        "THROTTLE_LOGIN": UNLIMITED,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "true",
    }


# --- the server --------------------------------------------------------------------------


class Server:
    """gunicorn with gunicorn.conf.py (its worker class and the application it serves) on a spare loopback port."""

    def __init__(self, *, env: dict[str, str], args: argparse.Namespace, tmp: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = args.workers
        self.log = tmp / "gunicorn.log"
        self.env = {
            **os.environ,
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(args.workers),
            "DATABASE_POOL_MAX_SIZE": str(args.pool_size),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
        }
        if args.max_requests is not None:
            self.env["GUNICORN_MAX_REQUESTS"] = str(args.max_requests)
        self.extra = ["--worker-class", args.worker_class] if args.worker_class else []
        worker_class = args.worker_class or str(runpy.run_path(str(ROOT / "gunicorn.conf.py")).get("worker_class", ""))
        # Uvicorn workers serve the ASGI application (the `asgi` service); the others the WSGI one (`web`).
        self.application = "config.asgi:application" if "uvicorn" in worker_class.lower() else "config.wsgi:application"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.touch()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), self.application, "--config", "gunicorn.conf.py", *self.extra],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/health/live", timeout=2):
                    pass
                if len(self.worker_pids()) >= self.workers:
                    return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer in 120 s:\n{self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        try:
            return [int(pid) for pid in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- data --------------------------------------------------------------------------------


def database_create(pg: PostgresCluster) -> None:
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def seed(args: argparse.Namespace) -> tuple[str, list[soak_load.ClientState]]:
    """An org (owner and members, a few teams) on the Team plan, and a session per client; returns (org id, clients)."""
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    from accounts.models import User
    from accounts.sessions import session_create
    from billing.services.manual import subscription_activate_manual
    from core.actor import Actor
    from organizations import services as org_services
    from organizations.models import Membership
    from organizations.teams import team_create

    call_command("billing_seed_plans", stdout=io.StringIO())
    password = make_password(PASSWORD)  # one Argon2 hash, shared by every soak user
    users = User.objects.bulk_create(
        User(email=f"soak-{n}@{EMAIL_DOMAIN}", full_name=f"Soak member {n}", password=password, is_active=True) for n in range(args.members)
    )
    owner = users[0]
    organization = org_services.organization_create(user=owner, name="Soak", slug="soak", actor=Actor.for_user(owner))
    # Clients act as admins (they create teams and invites); the other members are plain members.
    Membership.objects.bulk_create(
        Membership(organization=organization, user=user, role="admin" if n < args.clients - 1 else "member", display_name=f"Member {n}")
        for n, user in enumerate(users[1:])
    )
    # Pending invites count toward the plan's member limit: the Team plan has none.
    subscription_activate_manual(organization_id=organization.id, plan_code="team", months=12, actor=Actor.for_user(owner))
    for name in ("Platform", "Billing", "Support"):
        team_create(organization=organization, name=name, description="seeded", actor=Actor.for_user(owner))
    clients = []
    for user in users[: args.clients]:
        pair = session_create(user=user, actor=Actor.for_user(user), organization_id=organization.id)
        clients.append(soak_load.ClientState(email=user.email, password=PASSWORD, access=pair.access_token, refresh=pair.refresh_token))
    return str(organization.id), clients


def verify(acknowledged: dict[str, set[str]]) -> soak_report.Verification:
    """Every acknowledged write in the database, every audit chain intact."""
    from django.db import connection

    from audit.models import AuditEvent
    from audit.selectors import chain_verify
    from organizations.models import Invite, Team

    connection.close()  # the stores were restarted since this process last used them
    found = {
        "team": set(map(str, Team.objects.filter(id__in=acknowledged["team"]).values_list("id", flat=True))),
        "invite": set(map(str, Invite.objects.filter(id__in=acknowledged["invite"]).values_list("id", flat=True))),
    }
    chains = {}
    # order_by(): the model's default ordering would make DISTINCT run over (org, created_at, id).
    for organization_id in AuditEvent.objects.order_by().values_list("organization_id", flat=True).distinct():
        report = chain_verify(organization_id=organization_id)
        chains[str(organization_id)] = (report.valid, report.checked)
    return soak_report.Verification(
        acknowledged={kind: len(ids) for kind, ids in acknowledged.items()},
        missing={kind: sorted(acknowledged[kind] - found[kind]) for kind in acknowledged},
        chains=chains,
        events=AuditEvent.objects.count(),
    )


# --- the run -----------------------------------------------------------------------------


def inject(run: soak_load.Run, args, pg: PostgresCluster, redis: RedisInstance, log) -> list[soak_report.Fault]:
    """Stop and restart each store at its time; return what happened when (seconds since the load began)."""
    plan = []
    if args.pg_at >= 0:
        plan.append(("PostgreSQL", args.pg_at, args.pg_down))
    if args.redis_at >= 0:
        plan.append(("Redis", args.redis_at, args.redis_down))
    done = []
    for kind, at, down in sorted(plan, key=lambda item: item[1]):
        if run.stop.wait(max(0.0, at - run.now())):
            break
        fault = soak_report.Fault(kind=kind, stop_at=run.now())
        if kind == "PostgreSQL":
            pg.stop(args.pg_stop_mode)
        else:
            redis.stop()
        fault.down_at = run.now()
        log(f"{fault.down_at:7.2f} s  {kind} stopped (stop issued at {fault.stop_at:.2f} s)")
        run.stop.wait(max(0.0, fault.down_at + down - run.now()))
        fault.start_at = run.now()
        if kind == "PostgreSQL":
            pg.start(wait=False)
            ready = pg.wait_ready(timeout=60)
        else:
            redis.start(wait=False)
            ready = redis.wait_ready(timeout=60)
        fault.ready_at = ready - run.t0
        log(f"{fault.ready_at:7.2f} s  {kind} accepts connections again (start issued at {fault.start_at:.2f} s)")
        done.append(fault)
    return done


def final_refresh(run: soak_load.Run, states: list[soak_load.ClientState]) -> int:
    """Each client's last refresh token still rotates (the chain was persisted): how many did."""
    ok = 0
    for index, state in enumerate(states):
        client = soak_load.Client(index, run, state, seed=0)
        if client.refresh().status == 200:
            ok += 1
        client._drop()
    return ok


def _interrupted(signum, frame):
    """SIGTERM (e.g. from `timeout`) cleans up as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="saas-soak-"))
    pg, redis = PostgresCluster(tmp), RedisInstance(tmp)
    server: Server | None = None
    tail: soak_load.LogTail | None = None

    def log(message: str) -> None:
        print(message, flush=True)

    signal.signal(signal.SIGTERM, _interrupted)
    try:
        log(f"soak: own PostgreSQL ({pg.bin.parent.name}) and Redis in {tmp} ...")
        pg.init()
        pg.start(setup=True)
        redis.start()
        database_create(pg)
        env = app_environment(pg, redis)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        t = time.monotonic()
        call_command("migrate", interactive=False, verbosity=1 if args.verbose else 0)
        log(f"migrated in {time.monotonic() - t:.0f} s; seeding ...")
        organization_id, states = seed(args)
        connection.close()  # nothing of this process's connection reaches the server or survives the faults
        pg.stop("fast")
        pg.start()  # with fsync on again, as in production

        server = Server(env=env, args=args, tmp=tmp)
        server.start()
        max_requests = server.env.get("GUNICORN_MAX_REQUESTS", "gunicorn.conf.py default")
        settings = f"config.settings.prod, DATABASE_POOL_MAX_SIZE={args.pool_size}, GUNICORN_MAX_REQUESTS={max_requests}"
        log(f"gunicorn: {args.workers} workers on {server.base} ({settings})")
        log(f"load: {args.clients} clients for {args.duration:g} s ...")

        run = soak_load.Run(host="127.0.0.1", port=server.port, organization_id=organization_id, t0=time.monotonic(), timeout=args.timeout)
        tail = soak_load.LogTail(server.log, run)
        tail.start()
        clients = [soak_load.Client(index, run, state, seed=args.seed * 1000 + index) for index, state in enumerate(states)]
        probe = soak_load.ReadinessProbe(run)
        for thread in (*clients, probe):
            thread.start()
        faults: list[soak_report.Fault] = []
        broken: list[BaseException] = []

        def injecting() -> None:
            try:
                faults.extend(inject(run, args, pg, redis, log))
            except BaseException as exc:  # the soak itself broke: stop the load and say why
                broken.append(exc)
                run.stop.set()

        injector = threading.Thread(target=injecting, name="soak-faults", daemon=True)
        injector.start()
        run.stop.wait(args.duration)
        run.stop.set()
        injector.join()
        if broken:
            raise RuntimeError("injecting a fault failed") from broken[0]
        for thread in (*clients, probe):
            thread.join(timeout=args.timeout + 5)
        samples = list(run.samples)
        refreshed = final_refresh(run, states)
        server.stop()
        tail.done.set()
        tail.join()

        acknowledged = {"team": set(), "invite": set()}
        for sample in samples:
            if sample.created and sample.op in soak_load.WRITES:
                acknowledged[soak_load.WRITES[sample.op]].add(sample.created)
        log("load done; verifying acknowledged writes and audit chains ...")
        t = time.monotonic()
        verification = verify(acknowledged)
        log(f"verified in {time.monotonic() - t:.1f} s")
        t = time.monotonic()
        verification.refresh_chains = (refreshed, len(states))
        verification.relogins = sum(state.relogins for state in states)
        context = soak_report.Context(
            args=args,
            cores=CORES,
            postgres=pg.bin.parent.name,
            load_before=load_before,
            load_after=" ".join(f"{value:.2f}" for value in os.getloadavg()),
            wall_seconds=time.monotonic() - started,
        )
        print()
        text = soak_report.report(context, samples, probe.samples, faults, tail.lines, verification)
        log(f"report in {time.monotonic() - t:.1f} s")
        print(text)
    except KeyboardInterrupt:
        print("\nsoak interrupted; cleaning up ...", file=sys.stderr)
        return 130
    finally:
        if tail is not None:
            tail.done.set()
        if server is not None:
            server.stop()
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for path in (tmp / "gunicorn.log", pg.log, redis.log):
                if path.exists():
                    shutil.copy(path, args.keep_logs / path.name)
        redis.cleanup()
        pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
