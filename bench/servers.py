"""Benchmark: the same project under each server mode, to pick the server by measurement (issue 17, item 3).

Modes (`--modes`, comma list; each with `--workers` processes, the bench database through psycopg's
pool in every mode, so WSGI reuses connections too, and the same Redis cache):

- `uvicorn`: gunicorn + core.asgi_worker.UvicornWorker serving config.asgi (production's `asgi` service: /ws, streams);
- `gthread`, `gthread-1`: gunicorn + core.wsgi_worker.ThreadWorker (gunicorn's threaded worker, pool filled
  first) serving config.wsgi, `--threads` threads or one (production's `web`: gthread-1);
- `granian-wsgi`: granian `--interface wsgi` serving config.wsgi:application (`--threads` blocking threads);
- `granian-asgi`: granian `--interface asginl` (ASGI without lifespan) serving config.asgi:application (HTTP and /ws).

Per mode: GET users/me, POST auth/refresh (one fresh refresh token per request, bench/wrk/scenario.lua)
and the bare ceiling (config.bare.*, config.settings.bare) served by the same server in the same way,
so each mode shows its ratio to its own bare ceiling. Rounds interleave the modes (A B C D, A B C D
...), one server at a time, each started afresh and warmed up. ASGI modes get a WebSocket smoke check
on /ws (a valid token's ping answered by a pong, a bad token closed with 4401). The table shows
req/s, p50/p99, server CPU ms per request (/proc: the server's whole process tree), requests/s per
core of server CPU, and each mode's ratio to its own bare ceiling and to the fastest mode.

    .venv/bin/python bench/servers.py [--duration 10] [--rounds 2] [--workers 2] [--modes uvicorn,granian-wsgi]
"""

import argparse
import json
import os
import platform
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import auth_refresh
import harness
import users_me

MODES = ("uvicorn", "gthread", "gthread-1", "granian-wsgi", "granian-asgi")
POOL_SIZE = os.environ.get("BENCH_POOL_MAX_SIZE", "10")
# Every mode reads the database through psycopg's pool (as compose does): without it a WSGI worker
# opens a connection per request, and the comparison would measure that instead of the server.
DATABASE_ENV = {"DATABASE_CONN_MAX_AGE": "0", "DATABASE_POOL_MAX_SIZE": POOL_SIZE}
SCENARIOS = (("bare", "bare ceiling"), ("users_me", "GET users/me"), ("refresh", "POST auth/refresh"))


@dataclass(frozen=True)
class Mode:
    """A way of serving the project: which server, which interface, how many threads."""

    name: str
    server: str  # "gunicorn" or "granian"
    interface: str  # "asgi" or "wsgi"
    threads: int

    def create(self, *, workers: int, tmp: Path, bare: bool) -> harness.Server:
        if self.server == "granian":
            return GranianServer(interface=self.interface, workers=workers, threads=self.threads, tmp=tmp, bare=bare)
        return harness.Server(
            workers=workers, threads=self.threads, tmp=tmp, wsgi=self.interface == "wsgi", asgi=self.interface == "asgi", bare=bare, env=DATABASE_ENV
        )


def modes_of(names: list[str], threads: int) -> list[Mode]:
    """The modes named on the command line, in their order."""
    known = {
        "uvicorn": Mode("uvicorn", "gunicorn", "asgi", 1),  # the `asgi` service's worker
        "gthread": Mode("gthread", "gunicorn", "wsgi", threads),
        "gthread-1": Mode("gthread-1", "gunicorn", "wsgi", 1),
        "granian-wsgi": Mode("granian-wsgi", "granian", "wsgi", threads),
        "granian-asgi": Mode("granian-asgi", "granian", "asgi", 1),
    }
    unknown = [name for name in names if name not in known]
    if unknown:
        sys.exit(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return [known[name] for name in names]


def production_mode() -> str:
    """The mode production runs: what gunicorn.conf.py's worker class serves."""
    worker_class, _ = harness.serving()
    if "uvicorn" in worker_class.lower():
        return "uvicorn"
    threads = int(runpy.run_path(str(harness.ROOT / "gunicorn.conf.py")).get("threads", 1))
    return "gthread-1" if threads == 1 else "gthread"


# --- granian -----------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (children of any of its threads, recursively)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class GranianServer(harness.Server):
    """granian serving the project (or the bare ceiling) with the environment harness.Server gives gunicorn."""

    def __init__(self, *, interface: str, workers: int, threads: int, tmp: Path, bare: bool = False):
        super().__init__(workers=workers, threads=threads, tmp=tmp, wsgi=interface == "wsgi", bare=bare, env=DATABASE_ENV)
        package = "config.bare" if bare else "config"
        self.interface = interface
        self.application = f"{package}.{interface}:application"
        self.worker_class = f"granian {interface}"
        self.log = tmp / f"granian-{self.name}.log"

    def start(self) -> None:
        metrics = self.tmp / f"prometheus-granian-{self.name}"
        shutil.rmtree(metrics, ignore_errors=True)  # what gunicorn.conf.py's on_starting does
        metrics.mkdir()
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics), **self.env}
        if self.bare:
            from rest_framework_simplejwt.state import token_backend

            env["DJANGO_SETTINGS_MODULE"] = "config.settings.bare"
            env["JWT_VERIFYING_KEY"] = token_backend.verifying_key
        # asginl: ASGI without the lifespan protocol, which neither config.asgi's router nor Django's
        # handler speaks (with `asgi` granian tries it, logs an error and serves the same way).
        interface = "asginl" if self.interface == "asgi" else self.interface
        command = [
            str(Path(sys.executable).with_name("granian")), "--interface", interface,
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            # An access line per request, as gunicorn.conf.py writes in the other modes.
            "--access-log", "--no-respawn-failed-workers",
        ]  # fmt: skip
        if self.interface == "wsgi":
            command += ["--blocking-threads", str(self.threads)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*command, self.application], cwd=harness.ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.wait_serving("granian")

    def describe(self) -> str:
        threads = f" × {self.threads} blocking threads" if self.interface == "wsgi" else ""
        return f"granian, {self.workers} workers{threads} serving {self.application} ({self.interface})"

    def worker_pids(self) -> list[int]:
        return _descendants(self.process.pid) if self.process else []

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- WebSocket smoke check ---------------------------------------------------------------


def websocket_check(server: harness.Server, *, token: str, organization_id: str) -> tuple[bool, str]:
    """Connect to /ws with a valid token and read the first frame (a pong); a bad token must be closed with 4401."""
    from websockets.exceptions import ConnectionClosed, WebSocketException
    from websockets.sync.client import connect

    from messaging.consumers import CLOSE_UNAUTHENTICATED

    url = f"ws://127.0.0.1:{server.port}/ws?org={organization_id}"
    try:
        with connect(url, subprotocols=["bearer", token], open_timeout=10, close_timeout=5) as socket_:
            socket_.send(json.dumps({"type": "ping", "ref": "smoke"}))
            first = json.loads(socket_.recv(timeout=10))
        if first != {"type": "pong", "ref": "smoke"}:
            return False, f"first frame {first!r}, expected a pong"
        with connect(url, subprotocols=["bearer", "not-a-token"], open_timeout=10, close_timeout=5) as socket_:
            try:
                frame = socket_.recv(timeout=10)
                return False, f"a bad token got a frame: {frame!r}"
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
        if code != CLOSE_UNAUTHENTICATED:
            return False, f"a bad token was closed with {code}, expected {CLOSE_UNAUTHENTICATED}"
    except (OSError, TimeoutError, WebSocketException, ValueError) as error:  # a refused handshake included
        return False, f"{type(error).__name__}: {error}"
    return True, f"ok (ping → pong; bad token closed {CLOSE_UNAUTHENTICATED})"


# --- one round of one mode ---------------------------------------------------------------


def round_of(bench: harness.Bench, mode: Mode, seeded: dict, *, check_websocket: bool) -> tuple[list[harness.Row], str | None, str]:
    """Serve the project, then the bare ceiling, in `mode`; measure users/me, refresh and the ceiling.

    Returns the rows, the WebSocket check's outcome (None unless `check_websocket`) and how the project was served.
    """
    args = bench.args
    rows: list[harness.Row] = []
    websocket = None
    server = mode.create(workers=args.workers, tmp=bench.tmp, bare=False)
    try:
        server.start()
        bench.server = server
        if check_websocket:
            if mode.interface == "asgi":
                ok, detail = websocket_check(server, token=seeded["ws_token"], organization_id=seeded["ws_org"])
                websocket = detail if ok else f"FAILED: {detail}"
            else:
                websocket = "n/a (WSGI)"
        rows += users_me.measure(bench, seeded["users_me"]).rows
        tokens = {
            "smoke": auth_refresh._mint(seeded["refresh_user"], seeded["refresh_org"], 1),
            "warmup": auth_refresh._mint(seeded["refresh_user"], seeded["refresh_org"], int(args.refresh_rate * max(args.warmup, 1))),
            "measure": auth_refresh._mint(seeded["refresh_user"], seeded["refresh_org"], int(args.refresh_rate * args.duration)),
        }
        harness.connection.close()  # minting must not hold a connection through the measurement
        rows += auth_refresh.measure(bench, tokens).rows
    finally:
        server.stop()
        bench.server = None
    bare = mode.create(workers=args.workers, tmp=bench.tmp, bare=True)
    try:
        bare.start()
        status, body = bare.call("GET", harness.BARE_PATH, token=seeded["ceiling_token"])
        if status != 200 or body.get("email") != seeded["ceiling_email"]:
            raise RuntimeError(f"GET {harness.BARE_PATH} on the bare server ({mode.name}) answered {status}: {json.dumps(body)[:500]}")
        rows.append(bench.wrk("bare", "bare ceiling", path=harness.BARE_PATH, token=seeded["ceiling_token"], server=bare))
    finally:
        bare.stop()
    return rows, websocket, server.describe()


# --- figures -----------------------------------------------------------------------------


@dataclass
class Figure:
    """One scenario in one mode over all rounds."""

    rps: float  # mean of the rounds
    rps_min: float
    rps_max: float
    p50: float
    p99: float
    cpu_ms: float | None  # all rounds' server CPU ÷ all rounds' requests
    requests: int
    errors: int


def figure_of(rows: list[harness.Row]) -> Figure:
    """One scenario's rounds in one mode, combined."""
    rates = [row.rps for row in rows]
    requests = sum(row.requests for row in rows)
    timed = [row for row in rows if row.cpu_ms is not None]
    cpu_ms = sum(row.cpu_ms * row.requests for row in timed) / sum(row.requests for row in timed) if timed and requests else None
    return Figure(
        rps=statistics.fmean(rates), rps_min=min(rates), rps_max=max(rates),
        p50=statistics.fmean(row.p50 for row in rows), p99=statistics.fmean(row.p99 for row in rows),
        cpu_ms=cpu_ms, requests=requests, errors=sum(row.errors for row in rows),
    )  # fmt: skip


def table(figures: dict[str, dict[str, Figure]], modes: list[Mode], descriptions: dict[str, str]) -> str:
    """Markdown: one line per mode and scenario, with its ratio to its own bare ceiling and to the fastest mode."""
    fastest = {key: max(figures[mode.name][key].rps for mode in modes) for key, _ in SCENARIOS}
    lines = [
        "| mode | scenario | req/s | rounds (min–max) | p50 ms | p99 ms | CPU ms/req | req/s per core of server CPU | × own bare | × fastest | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in modes:
        for key, label in SCENARIOS:
            got = figures[mode.name][key]
            cpu = f"{got.cpu_ms:.2f}" if got.cpu_ms else "—"
            per_core = f"{1000 / got.cpu_ms:.0f}" if got.cpu_ms else "—"
            own_bare = "1.00" if key == "bare" else f"{got.rps / figures[mode.name]['bare'].rps:.2f}"
            lines.append(
                f"| {mode.name} | {label} | {got.rps:.1f} | {got.rps_min:.0f}–{got.rps_max:.0f} | {got.p50:.2f} | {got.p99:.2f} "
                f"| {cpu} | {per_core} | {own_bare} | {got.rps / fastest[key]:.2f} | {got.errors} |"
            )
    lines += ["", "| mode | served as | WebSocket /ws |", "|---|---|---|"]
    lines += [f"| {mode.name} | {descriptions[mode.name]} | {descriptions[mode.name + ':ws']} |" for mode in modes]
    return "\n".join(lines)


def verdict(figures: dict[str, dict[str, Figure]], modes: list[Mode], websockets_ok: dict[str, bool]) -> list[str]:
    """Issue 17's goals for the server, and which mode serves HTTP fastest."""
    lines = []
    production = production_mode()
    for key, label in SCENARIOS[1:]:
        best = max(modes, key=lambda mode: figures[mode.name][key].rps)
        lines.append(f"fastest for {label}: {best.name} ({figures[best.name][key].rps:.1f} req/s)")
        if production in figures:
            ratio = figures[production][key].rps / figures[best.name][key].rps
            met = "MET" if ratio >= 0.9 else "NOT MET"
            # CPU per request beside it: the figure least moved by other work on the machine.
            cpu = {name: figures[name][key].cpu_ms or 0.0 for name in (production, best.name)}
            detail = f"{ratio:.2f}× req/s; CPU ms/req {cpu[production]:.2f} vs {cpu[best.name]:.2f}"
            lines.append(f"goal  production mode ({production}) within 10 % of the fastest, {label}: {detail} {met}")
    for mode in modes:
        cpu_ms = figures[mode.name]["refresh"].cpu_ms
        per_core = 1000 / cpu_ms if cpu_ms else 0.0
        met = "MET" if per_core >= harness.REFRESH_PER_SERVER_CORE else "NOT MET"
        lines.append(f"goal  refresh ≥ {harness.REFRESH_PER_SERVER_CORE} req/s per core of server CPU, {mode.name}: {per_core:.0f} {met}")
    asgi_ok = [mode for mode in modes if mode.interface == "asgi" and websockets_ok.get(mode.name)]
    if asgi_ok:
        best_ws = max(asgi_ok, key=lambda mode: figures[mode.name]["users_me"].rps)
        lines.append(f"fastest ASGI mode with working WebSockets (for /ws in a split): {best_ws.name}")
    return lines


# --- entry point -------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--duration", type=float, default=10, help="seconds measured per scenario and round (default 10)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up load before each (default 2)")
    p.add_argument("--rounds", type=int, default=2, help="rounds over all modes, interleaved (default 2)")
    p.add_argument("--workers", type=int, default=harness.CORES, help=f"server worker processes in every mode (default cores = {harness.CORES})")
    p.add_argument("--threads", type=int, default=4, help="threads per worker of gthread and granian-wsgi (default 4)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma list (default {','.join(MODES)})")
    p.add_argument("--connections", type=int, default=8, help="concurrent wrk connections (default 8)")
    p.add_argument("--refresh-rate", type=int, default=1500, help="refresh tokens minted per second of load (default 1500)")
    p.add_argument("--keep-data", action="store_true", help="leave the seeded data in the database afterwards")
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="wrk binary")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    modes = modes_of([name.strip() for name in args.modes.split(",") if name.strip()], args.threads)
    if not shutil.which(args.wrk):
        sys.exit("wrk is needed: apt-get install wrk (https://github.com/wg/wrk)")
    if harness.connection.vendor != "postgresql":
        sys.exit("The benchmarks run on PostgreSQL (BENCH_DATABASE_URL).")
    if any(mode.server == "granian" for mode in modes) and not Path(sys.executable).with_name("granian").exists():
        sys.exit("granian is needed for the granian modes: .venv/bin/pip install granian")

    started = time.monotonic()
    load_before = harness._load()
    tmp = Path(tempfile.mkdtemp(prefix="saas-bench-servers-"))
    bench = harness.Bench(args, tmp)
    bench.host_header = True  # granian answers a request without Host with a 400 (DisallowedHost)
    rows: dict[str, list[harness.Row]] = {mode.name: [] for mode in modes}
    descriptions: dict[str, str] = {}
    websockets_ok: dict[str, bool] = {}
    try:
        harness.database_prepare(verbose=args.verbose)
        harness.data_reset()
        print("seeding ...", flush=True)
        ceiling_org, ceiling_user = harness.organization_with_members("ceiling", 1)
        ws_org, ws_user = harness.organization_with_members("ws", 2)
        refresh_org, refresh_user = harness.organization_with_members("refresh", 2)
        seeded = {
            "users_me": users_me.seed(bench),
            "ceiling_token": harness.access_token(ceiling_user, ceiling_org),
            "ceiling_email": ceiling_user.email,
            "ws_token": harness.access_token(ws_user, ws_org),
            "ws_org": str(ws_org.id),
            "refresh_user": refresh_user,
            "refresh_org": refresh_org,
        }
        with harness.connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        harness.connection.close()  # the servers must not inherit anything from this process
        for round_number in range(1, args.rounds + 1):
            for mode in modes:
                t0 = time.monotonic()
                got, websocket, description = round_of(bench, mode, seeded, check_websocket=round_number == 1)
                rows[mode.name] += got
                if websocket is not None:
                    descriptions[mode.name + ":ws"] = websocket
                    websockets_ok[mode.name] = not websocket.startswith("FAILED")
                descriptions[mode.name] = description
                summary = ", ".join(f"{row.key} {row.rps:.0f} req/s {row.cpu_ms or 0:.2f} CPU ms" for row in got)
                print(f"round {round_number} {mode.name}: {summary} ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        if not args.keep_data:
            harness.data_reset()
        shutil.rmtree(tmp, ignore_errors=True)

    figures = {name: {key: figure_of([row for row in got if row.key == key]) for key, _ in SCENARIOS} for name, got in rows.items()}
    print()
    print(f"## Server comparison {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"{harness.CORES} cores ({harness._cpu_model()}), Python {platform.python_version()}, "
        f"PostgreSQL {harness.connection.pg_version // 10000}, Redis cache, psycopg pool of {POOL_SIZE} per worker in every mode; "
        f"{args.workers} workers per mode; wrk 1 thread, {args.connections} connections on loopback, {args.rounds} interleaved "
        f"round(s) of {args.duration:g} s per scenario after {args.warmup:g} s warm-up, each server started afresh; "
        f"load average before {load_before}, after {harness._load()}."
    )
    print()
    print(table(figures, modes, descriptions))
    print()
    for line in verdict(figures, modes, websockets_ok):
        print(line)
    failed = [f"{name} {key}" for name, by_key in figures.items() for key, got in by_key.items() if got.errors]
    broken = [name for name, ok in websockets_ok.items() if not ok]
    if failed:
        print(f"ERRORS (non-2xx or socket errors) in: {', '.join(failed)}")
    if broken:
        print(f"WebSocket check FAILED in: {', '.join(broken)}")
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
