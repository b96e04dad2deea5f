"""The soak's figures: the per-10-second table, each fault's timings, the server log, and issue 19's goals.

Times are seconds since the load began. A fault's window runs from the moment its stop was issued
to the moment the store accepted a connection again; a request is "during a fault" when its own
interval (start to end) overlaps that window.
"""

import json
import platform
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from soak_load import CONNECTION, TIMEOUT, LogLine, Sample

BUCKET = 10.0
# Seconds after a store is back that still count as its fault for the log and the throughput
# baseline (the cache breaker skips Redis for up to CACHE_BREAKER_SECONDS after it returns).
AFTERMATH = 10.0
WARMUP = 10.0
# Seconds of steady state before and after a fault its throughput is compared with.
AROUND = 20.0


@dataclass
class Fault:
    kind: str  # "PostgreSQL" or "Redis"
    stop_at: float  # stop issued
    down_at: float = 0.0  # stop returned
    start_at: float = 0.0  # restart issued
    ready_at: float = 0.0  # first connection accepted again

    def overlaps(self, sample: Sample) -> bool:
        return sample.start <= self.ready_at and sample.end >= self.stop_at


@dataclass
class Verification:
    acknowledged: dict[str, int]
    missing: dict[str, list[str]]
    chains: dict[str, tuple[bool, int]]  # org id → (valid, events checked)
    events: int
    refresh_chains: tuple[int, int] = (0, 0)  # (still rotating, clients)
    relogins: int = 0


@dataclass
class Context:
    args: object
    cores: int
    postgres: str
    load_before: str
    load_after: str
    wall_seconds: float


@dataclass
class Goal:
    text: str
    measured: str
    met: bool | None  # None: not measured in this run


@dataclass
class FaultFigures:
    fault: Fault
    first_error: float | None = None
    first_503: float | None = None
    last_error: float | None = None  # relative to ready_at
    first_success: float | None = None  # relative to ready_at
    serving: float | None = None  # relative to ready_at: max(last error, first success)
    errors: Counter = field(default_factory=Counter)
    rps: float = 0.0
    p50: float = 0.0
    around_rps: float = 0.0  # steady state just before and after the fault
    op_p50: dict[str, float] = field(default_factory=dict)
    probe_max: float | None = None
    probe_first_named: float | None = None
    probe_statuses: Counter = field(default_factory=Counter)
    log_lines: int = 0
    log_peak_second: int = 0
    log_top: list[tuple[str, int]] = field(default_factory=list)


# --- helpers -----------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _kind(sample: Sample) -> str:
    if sample.error:
        return sample.error
    return str(sample.status)


# Access lines (uvicorn's, through gunicorn's access log): `<client> - "GET /path HTTP/1.1" 200`.
_ACCESS = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP/[\d.]+" \d{3}')


def is_access(line: str) -> bool:
    return bool(_ACCESS.search(line))


def log_key(line: str) -> str:
    """What a log line says, without its variable parts (for counting alike lines together)."""
    text = line
    if line.startswith("{"):
        try:
            record = json.loads(line)
            text = f"{record.get('level', '')} {record.get('logger', '')}: {record.get('message', '')}"
        except ValueError:
            pass
    text = re.sub(r"^\[[^\]]*\] \[\d+\] ", "", text)  # gunicorn's `[time] [pid] `
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b|\b\d+(\.\d+)?\b", "N", text)
    return text[:110]


# --- figures -----------------------------------------------------------------------------


def outside(sample: Sample, faults: list[Fault]) -> bool:
    return not any(fault.overlaps(sample) for fault in faults)


def normal_window(t: float, faults: list[Fault], duration: float) -> bool:
    """Whether `t` lies in steady state: past the warm-up, away from every fault and its aftermath."""
    if t < WARMUP or t > duration:
        return False
    return not any(fault.stop_at - 1 <= t <= fault.ready_at + AFTERMATH for fault in faults)


def fault_figures(fault: Fault, faults: list[Fault], samples: list[Sample], probes: list[Sample], lines: list[LogLine], duration: float) -> FaultFigures:
    figures = FaultFigures(fault=fault)
    later = [f.stop_at for f in faults if f.stop_at > fault.stop_at]
    horizon = min([fault.ready_at + 30, duration + 30, *later])
    related = [s for s in samples if s.end >= fault.stop_at and s.start <= horizon]
    errors = [s for s in related if s.failed]
    figures.errors = Counter(f"{s.op} {_kind(s)} {s.detail}".strip() for s in errors)
    if errors:
        figures.first_error = min(s.end for s in errors) - fault.stop_at
        figures.last_error = max(s.end for s in errors) - fault.ready_at
    unavailable = [s.end for s in related if s.status == 503]
    if unavailable:
        figures.first_503 = min(unavailable) - fault.stop_at
    successes = [s.end for s in related if 200 <= s.status < 300 and s.end >= fault.ready_at]
    if successes:
        figures.first_success = min(successes) - fault.ready_at
        figures.serving = max(figures.first_success, figures.last_error or 0.0)
    down = [s for s in samples if fault.down_at <= s.end <= fault.start_at]
    span = fault.start_at - fault.down_at
    if span > 0:
        figures.rps = len(down) / span
        figures.p50 = _pct([s.latency for s in down], 0.5)
        by_op: dict[str, list[float]] = defaultdict(list)
        for sample in down:
            by_op[sample.op].append(sample.latency)
        figures.op_p50 = {op: _pct(values, 0.5) for op, values in by_op.items()}
    # The reference the fault's throughput is compared with: the steady state AROUND seconds
    # before the stop and after its aftermath (the shared machine's own load drifts over a run).
    windows = [(fault.stop_at - 1 - AROUND, fault.stop_at - 1), (fault.ready_at + AFTERMATH, fault.ready_at + AFTERMATH + AROUND)]

    def around(t: float) -> bool:
        return any(lo <= t < hi for lo, hi in windows) and normal_window(t, faults, duration)

    around_seconds = sum(around(tenth / 10) for tenth in range(int(duration * 10))) / 10
    if around_seconds > 0:
        figures.around_rps = sum(around(s.end) for s in samples) / around_seconds
    during = [p for p in probes if p.end >= fault.stop_at and p.start <= fault.ready_at]
    if during:
        figures.probe_max = max(p.latency for p in during)
        figures.probe_statuses = Counter(_kind(p) + (f" failing={p.detail}" if p.detail else "") for p in during)
        name = "database" if fault.kind == "PostgreSQL" else "cache"
        named = [p.end for p in during if p.status == 503 and name in p.detail.split(",")]
        if named:
            figures.probe_first_named = min(named) - fault.stop_at
    window = [line for line in lines if fault.stop_at <= line.at <= fault.ready_at + AFTERMATH and not is_access(line.text)]
    figures.log_lines = len(window)
    per_second = Counter(int(line.at) for line in window)
    figures.log_peak_second = max(per_second.values(), default=0)
    figures.log_top = Counter(log_key(line.text) for line in window).most_common(6)
    return figures


def bucket_table(samples: list[Sample], faults: list[Fault], duration: float) -> str:
    buckets: dict[int, list[Sample]] = defaultdict(list)
    last = max(0, int((duration - 0.001) // BUCKET))
    for sample in samples:
        # Requests still in flight when the load stopped count in the last interval.
        buckets[min(last, int(sample.end // BUCKET))].append(sample)
    header = (
        f"| {'t (s)':>9} | {'req':>5} | {'req/s':>6} | {'2xx':>5} | {'4xx':>4} | {'5xx':>4} | {'503':>4} "
        f"| {'timeout':>7} | {'conn err':>8} | {'p50 ms':>6} | {'p99 ms':>6} | fault |"
    )
    lines = [header, "|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|"]
    for index in range(last + 1):
        chunk = buckets.get(index, [])
        lo, hi = index * BUCKET, min(duration, (index + 1) * BUCKET)
        latencies = [s.latency for s in chunk if not s.error]
        marks = [f"{f.kind} ↓" for f in faults if f.stop_at < hi and f.ready_at >= lo]
        lines.append(
            f"| {f'{lo:.0f}–{hi:.0f}':>9} | {len(chunk):>5} | {len(chunk) / (hi - lo):>6.1f} "
            f"| {sum(200 <= s.status < 300 for s in chunk):>5} | {sum(400 <= s.status < 500 for s in chunk):>4} "
            f"| {sum(s.status >= 500 for s in chunk):>4} | {sum(s.status == 503 for s in chunk):>4} "
            f"| {sum(s.error == TIMEOUT for s in chunk):>7} | {sum(s.error == CONNECTION for s in chunk):>8} "
            f"| {_ms(_pct(latencies, 0.5)):>6} | {_ms(_pct(latencies, 0.99)):>6} | {', '.join(marks)} |"
        )
    return "\n".join(lines)


def recycles(lines: list[LogLine]) -> list[float]:
    """When a worker hit its request limit (uvicorn logs it as it begins to exit)."""
    return [line.at for line in lines if "Maximum request limit" in line.text]


# --- the report --------------------------------------------------------------------------


def report(context: Context, samples: list[Sample], probes: list[Sample], faults: list[Fault], lines: list[LogLine], verification: Verification) -> str:
    args = context.args
    duration = args.duration
    out: list[str] = []
    out.append(f"## Soak {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    command = " ".join(sys.argv[1:])
    invocation = f'make soak SOAK_ARGS="{command}"' if command else "make soak"
    out.append(
        f"`{invocation}`: {context.cores} cores, Python {platform.python_version()}, "
        f"PostgreSQL {context.postgres} and redis-server of the soak's own; gunicorn {args.workers} workers "
        f"(gunicorn.conf.py, config.settings.prod, DATABASE_POOL_MAX_SIZE={args.pool_size}"
        f"{'' if args.max_requests is None else f', GUNICORN_MAX_REQUESTS={args.max_requests}'}"
        f"{'' if not args.worker_class else f', worker class {args.worker_class}'}); "
        f"{args.clients} closed-loop clients on keep-alive connections for {duration:g} s; "
        f"load average before {context.load_before}, after {context.load_after}; {context.wall_seconds:.0f} s in all."
    )
    out.append("")
    for fault in faults:
        out.append(
            f"- {fault.kind}: stop issued at {fault.stop_at:.2f} s, down at {fault.down_at:.2f} s, "
            f"restart issued at {fault.start_at:.2f} s, accepting again at {fault.ready_at:.2f} s."
        )
    out.append("")
    out.append(bucket_table(samples, faults, duration))
    out.append("")

    normal = [s for s in samples if normal_window(s.end, faults, duration)]
    normal_seconds = sum(1 for t in range(int(duration * 10)) if normal_window(t / 10, faults, duration)) / 10
    normal_rps = len(normal) / normal_seconds if normal_seconds else 0.0
    normal_p50 = _pct([s.latency for s in normal], 0.5)
    normal_by_op: dict[str, list[float]] = defaultdict(list)
    for sample in normal:
        normal_by_op[sample.op].append(sample.latency)
    out.append(f"Steady state (after {WARMUP:g} s, outside every fault and {AFTERMATH:g} s after it): {normal_rps:.1f} req/s, p50 {_ms(normal_p50)} ms.")
    out.append("")

    per_fault = [fault_figures(f, faults, samples, probes, lines, duration) for f in faults]
    for figures in per_fault:
        fault = figures.fault
        out.append(f"### {fault.kind} down {fault.start_at - fault.down_at:.1f} s")
        out.append(f"- fault → first error: {_s(figures.first_error)}; fault → first 503: {_s(figures.first_503)}")
        out.append(
            f"- recovery → last error: {_s(figures.last_error)}; recovery → first 2xx: {_s(figures.first_success)}; "
            f"serving again (the later of the two): {_s(figures.serving)}"
        )
        ratio = figures.rps / normal_rps * 100 if normal_rps else 0.0
        around = figures.rps / figures.around_rps * 100 if figures.around_rps else 0.0
        out.append(
            f"- while down: {figures.rps:.1f} req/s ({ratio:.0f} % of the whole run's steady state; {around:.0f} % of the "
            f"{figures.around_rps:.1f} req/s {AROUND:g} s before and after), p50 {_ms(figures.p50)} ms"
        )
        if figures.op_p50:
            out.append(
                "- p50 per request while down (steady state): "
                + ", ".join(f"{op} {_ms(p50)} ({_ms(_pct(normal_by_op.get(op, []), 0.5))}) ms" for op, p50 in sorted(figures.op_p50.items()))
            )
        if figures.errors:
            out.append("- errors: " + "; ".join(f"{key} ×{count}" for key, count in figures.errors.most_common(8)))
        if figures.probe_max is not None:
            out.append(
                f"- /health/ready while down: slowest answer {figures.probe_max:.2f} s; first 503 naming it "
                f"{_s(figures.probe_first_named)} after the stop; " + ", ".join(f"{k} ×{v}" for k, v in figures.probe_statuses.most_common())
            )
        workers = args.workers
        out.append(
            f"- server log (not access lines), stop to {AFTERMATH:g} s after recovery: {figures.log_lines} lines, "
            f"busiest second {figures.log_peak_second} (for {workers} workers)"
        )
        for key, count in figures.log_top:
            out.append(f"    {count:>5} × {key}")
        out.append("")

    baseline_lines = [line for line in lines if normal_window(line.at, faults, duration) and not is_access(line.text)]
    if baseline_lines:
        out.append(f"Server log in steady state (not access lines): {len(baseline_lines)} lines, e.g.:")
        for key, count in Counter(log_key(line.text) for line in baseline_lines).most_common(4):
            out.append(f"    {count:>5} × {key}")
        out.append("")

    stray = [s for s in samples if s.failed and outside(s, faults)]
    recycled = recycles(lines)
    out.append(f"Worker recycles (request limit reached): {len(recycled)}" + (f" at {', '.join(f'{t:.0f}' for t in recycled)} s" if recycled else ""))
    if stray:
        out.append(f"Errors outside the faults: {len(stray)}")
        for key, count in Counter(f"{s.op} {_kind(s)} {s.detail}".strip() for s in stray).most_common(8):
            out.append(f"    {count:>5} × {key}")
        out.append("    at " + ", ".join(f"{s.end:.1f}" for s in stray[:20]) + (" …" if len(stray) > 20 else "") + " s")
    statuses = Counter(_kind(s) for s in samples)
    out.append(f"All requests: {len(samples)}; " + ", ".join(f"{key} ×{count}" for key, count in sorted(statuses.items())))
    ops = Counter(s.op for s in samples)
    out.append("Mix: " + ", ".join(f"{op} {count}" for op, count in ops.most_common()))
    out.append("")

    lost = sum(len(ids) for ids in verification.missing.values())
    broken = [org for org, (valid, _) in verification.chains.items() if not valid]
    out.append(
        f"Verification: acknowledged writes {', '.join(f'{k}s {v}' for k, v in verification.acknowledged.items())}, "
        f"missing {lost}; audit chains {len(verification.chains)} ({verification.events} events), broken {len(broken)}; "
        f"refresh chains still rotating {verification.refresh_chains[0]}/{verification.refresh_chains[1]}; "
        f"sign-ins again after a lost session {verification.relogins}."
    )
    for kind, ids in verification.missing.items():
        if ids:
            out.append(f"    missing {kind}s: {', '.join(ids[:10])}")
    out.append("")

    goals = goals_of(args, samples, faults, per_fault, normal_rps, verification, lost, broken)
    out.append("| goal (issue 19) | measured | met |")
    out.append("|---|---|---|")
    for goal in goals:
        met = "—" if goal.met is None else ("yes" if goal.met else "**no**")
        out.append(f"| {goal.text} | {goal.measured} | {met} |")
    return "\n".join(out)


def goals_of(args, samples, faults, per_fault, normal_rps, verification, lost, broken) -> list[Goal]:
    database = next((f for f in per_fault if f.fault.kind == "PostgreSQL"), None)
    cache = next((f for f in per_fault if f.fault.kind == "Redis"), None)
    goals = [
        Goal("0 acknowledged writes lost", f"{lost} of {sum(verification.acknowledged.values())}", lost == 0),
        Goal("every audit chain verifies", f"{len(verification.chains) - len(broken)}/{len(verification.chains)} chains", not broken),
    ]
    five_hundreds = sum(s.status == 500 for s in samples)
    goals.append(Goal("0 500s", str(five_hundreds), five_hundreds == 0))
    stray_503 = sum(s.status == 503 and outside(s, faults) for s in samples)
    goals.append(Goal("503s only while a store is down", f"{stray_503} outside the fault windows", stray_503 == 0))
    if database is None:
        goals.append(Goal("first 503 within 1.5 s of the database going away", "no database fault in this run", None))
        goals.append(Goal("serving within 0.5 s of the database returning", "no database fault in this run", None))
        goals.append(Goal("/health/ready: 503 naming the database within ~1 s", "no database fault in this run", None))
    else:
        first = database.first_503
        goals.append(Goal("first 503 within 1.5 s of the database going away", _s(first), first is not None and first <= 1.5))
        serving = database.serving
        goals.append(
            Goal(
                "serving within 0.5 s of the database returning",
                f"{_s(serving)} (last error {_s(database.last_error)}, first 2xx {_s(database.first_success)})",
                serving is not None and serving <= 0.5,
            )
        )
        probe = database.probe_max
        goals.append(
            Goal(
                "/health/ready: 503 naming the database within ~1 s",
                f"slowest answer {_s(probe)}, first naming it {_s(database.probe_first_named)} after the stop",
                probe is not None and probe <= 1.5 and database.probe_first_named is not None,
            )
        )
    if cache is None:
        goals.append(Goal("throughput with Redis down ≥ 80 % of normal", "no Redis fault in this run", None))
    else:
        # Normal: the steady state around the outage (the machine's other load drifts over a run).
        ratio = cache.rps / cache.around_rps * 100 if cache.around_rps else 0.0
        whole = cache.rps / normal_rps * 100 if normal_rps else 0.0
        goals.append(
            Goal(
                "throughput with Redis down ≥ 80 % of normal",
                f"{ratio:.0f} % ({cache.rps:.1f} of {cache.around_rps:.1f} req/s {AROUND:g} s before and after; {whole:.0f} % of the whole run's)",
                ratio >= 80,
            )
        )
    if per_fault:
        # Per process: the soak cannot tell the workers' lines apart (the app's log lines carry no
        # pid), so the rate is the lines over the window, divided by the workers.
        rates = {f.fault.kind: f.log_lines / (f.fault.ready_at + AFTERMATH - f.fault.stop_at) / args.workers for f in per_fault}
        peak = max(f.log_peak_second for f in per_fault)
        goals.append(
            Goal(
                "≤ 1 log line per second per process about an outage",
                ", ".join(f"{kind} {rate:.2f}" for kind, rate in rates.items())
                + f" lines/s per worker (stop to {AFTERMATH:g} s after recovery); busiest second {peak} lines for {args.workers} workers",
                max(rates.values()) <= 1,
            )
        )
    errors = [s for s in samples if s.error and outside(s, faults)]
    connection_errors = sum(s.error == CONNECTION for s in errors)
    timeouts = sum(s.error == TIMEOUT for s in errors)
    goals.append(Goal("0 connection errors outside the faults", f"{connection_errors} (and {timeouts} timeouts)", connection_errors == 0 and timeouts == 0))
    return goals
