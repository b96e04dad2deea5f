"""psycopg's connection pool (DATABASE_POOL_MAX_SIZE > 0): back as soon as PostgreSQL is, quiet while it is away.

Django builds the pool itself (django.db.backends.postgresql), so two process-wide adjustments
are made once at startup (core/apps.py), and only when a pool is configured:

- Reconnection. When PostgreSQL goes away the pool discards its connections and reconnects each
  in the background, waiting 1 s, 2 s, 4 s ... between attempts (psycopg_pool's
  AttemptWithBackoff): after a 6 s outage it served again only ~1.5-2 s after PostgreSQL was
  back (issue 19, `make soak`). Here the attempts come every DATABASE_POOL_RECONNECT_SECONDS
  (default 0.25 s, ±10 %), without growing, so a database that returns is used within that
  interval. An attempt at a stopped server costs one refused connection; at an unreachable
  host, the pool's three worker threads bound the attempts to three per connect timeout.
- Its warnings: a line per discarded connection and per failed attempt (~70 in a 6 s outage
  for 3 workers) become one per DATABASE_OUTAGE_LOG_SECONDS per process, as core.exceptions
  does for the requests' own outage log, saying how many were held back.

While the pool knows PostgreSQL is away, a request fails at once instead of waiting out the
checkout timeout (`DATABASE_GATE`): every connection the pool makes goes through
`GatedConnection.connect`, which records whether the last attempt reached the server, and the
backend (core/db/postgresql) refuses a checkout when that attempt failed and no idle connection
is left, or when the idle one it tried is broken (`check_connection`). A threaded WSGI worker serves one request at a time, so without this a database outage
queued every request behind its 1 s checkout (`make soak`: 2 % of the normal throughput,
/health/ready 6.3 s). The pool's own reconnection attempts (every DATABASE_POOL_RECONNECT_SECONDS)
open the gate again: the first one that reaches PostgreSQL lets requests through.

And a server worker fills its pool before it accepts requests (`pool_fill`, called by
core.asgi_worker): Django opens the pool at the first request, and a new (or recycled) worker
that receives a burst then grows it one connection at a time while requests wait out the 1 s
checkout timeout: the soak saw 503s in its first second.
"""

import logging
import threading
import time

import psycopg
from django.conf import settings

POOL_LOGGER = "psycopg.pool"


class WarningThrottle(logging.Filter):
    """Let one warning (or worse) through per interval; the next one says how many were held back."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self._lock = threading.Lock()
        self._next = 0.0
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                self._held += 1
                return False
            self._next = now + self.seconds
            held, self._held = self._held, 0
        if held:
            record.msg = f"{record.getMessage()} ({held} more pool warnings held back since the last one)"
            record.args = ()
        return True


class DatabaseAway(BaseException):
    """Raised by check_connection inside the pool's checkout; a BaseException, so psycopg_pool stops trying further connections."""


class DatabaseGate:
    """Whether the pool's last attempt to reach PostgreSQL failed: while it has, checkouts fail at once.

    One per process, for the one pooled database (default): a second pooled PostgreSQL alias would
    share it. The pool's background threads and the checks write `down_since`, request threads
    read it: a single attribute assignment each.

    A refused request first knocks: one connection attempt of its own (one in flight per process,
    its result shared for PROBE_REUSE_SECONDS, waited for at most PROBE_WAIT_SECONDS), so a
    database that is back is used by the next request rather than after the pool's next
    scheduled reconnection (up to DATABASE_POOL_RECONNECT_SECONDS later: 503s after the outage in
    `make soak`). A stopped server refuses in about a millisecond; an unreachable one costs each
    request at most PROBE_WAIT_SECONDS while one attempt runs out its connect timeout.
    """

    PROBE_REUSE_SECONDS = 0.01
    PROBE_WAIT_SECONDS = 0.05
    # A failed check ends a checkout only while the last failed attempt is this recent: with a full
    # pool nothing retries, and an old failure must not turn one dropped idle connection into a 503.
    FRESH_SECONDS = 1.0

    def __init__(self):
        self.down_since: float | None = None  # time.monotonic() of the first failed attempt
        self.reached_at = 0.0  # time.monotonic() of the last proof that PostgreSQL answers
        self.failed_at = 0.0  # time.monotonic() of the last failed attempt that counted
        self._lock = threading.Lock()
        self._probe_done: threading.Event | None = None
        self._probed_at = 0.0

    def reached(self) -> None:
        """PostgreSQL answered (a new connection, or a pooled one's check): checkouts wait for connections again."""
        self.reached_at = time.monotonic()
        self.down_since = None

    def failed(self, started: float) -> None:
        """An attempt begun at `started` (time.monotonic()) found no server: from now, checkouts fail at once.

        Ignored when PostgreSQL answered after the attempt began: a slow attempt (an unreachable
        host runs out its connect timeout) must not close the gate a later success opened.
        """
        if started < self.reached_at:
            return
        self.failed_at = time.monotonic()
        if self.down_since is None:
            self.down_since = self.failed_at

    def recently_failed(self) -> bool:
        """Down, and an attempt failed within FRESH_SECONDS (the pool retries every DATABASE_POOL_RECONNECT_SECONDS while connections are missing)."""
        return self.down_since is not None and time.monotonic() - self.failed_at < self.FRESH_SECONDS

    def reason(self) -> str:
        down_since = self.down_since
        seconds = 0.0 if down_since is None else time.monotonic() - down_since
        return f"database unavailable: the pool has not reached it for {seconds:.1f} s (failing fast)"

    def check(self, pool) -> None:
        """Raise psycopg.OperationalError (a 503 for the request) when the database is known away and `pool` has nothing idle.

        An idle connection is still tried (check_connection): a failed attempt to open one more
        connection is no reason to refuse a request an idle connection can serve.
        """
        if self.down_since is None or pool.get_stats().get("pool_available", 0):
            return
        if self._knock(pool):
            return  # PostgreSQL answered just now: wait for the pool's connection as usual
        raise psycopg.OperationalError(self.reason())

    def _knock(self, pool) -> bool:
        """Whether PostgreSQL accepts a connection now (the shared probe's answer, if it comes within PROBE_WAIT_SECONDS)."""
        with self._lock:
            now = time.monotonic()
            done = self._probe_done
            if done is None or (done.is_set() and now - self._probed_at >= self.PROBE_REUSE_SECONDS):
                done = self._probe_done = threading.Event()
                self._probed_at = now
                threading.Thread(target=self._probe, args=(pool, done), name="database-gate-probe", daemon=True).start()
        done.wait(self.PROBE_WAIT_SECONDS)
        return self.down_since is None

    @staticmethod
    def _probe(pool, done: threading.Event) -> None:
        try:
            conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo or ""
            kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs or {}
            GatedConnection.connect(conninfo, **kwargs).close()  # reports to the gate
        except psycopg.Error:
            pass
        finally:
            done.set()


DATABASE_GATE = DatabaseGate()


def check_connection(conn) -> None:
    """The pool's check of a connection it is about to hand out (psycopg_pool's), ending the checkout once the database is known away.

    psycopg_pool discards a connection that fails its check, then sleeps and tries the next one
    until the checkout times out: right after PostgreSQL went away, every idle connection is broken
    and a request waited out the whole timeout. While an attempt to reach PostgreSQL failed within
    DatabaseGate.FRESH_SECONDS, a failed check ends the checkout instead (the connection is still
    discarded); a passing check opens the gate.
    """
    from psycopg_pool import ConnectionPool

    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        if DATABASE_GATE.recently_failed():
            raise DatabaseAway(DATABASE_GATE.reason()) from None
        raise
    DATABASE_GATE.reached()


# What PostgreSQL answers while it takes no connections at all (SQLSTATE 57P01-57P03). Any other
# answer to a connection attempt (too many clients, authentication, a missing database) says the
# server is up: no reason to refuse requests that pooled connections can serve.
UNAVAILABLE_ANSWERS = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "terminating connection due to administrator command",
)


def is_outage(error: psycopg.Error) -> bool:
    """Whether a failed connection attempt means PostgreSQL cannot be reached (no answer, or one of UNAVAILABLE_ANSWERS).

    libpq gives no SQLSTATE for a refused connection, only its message: the server's own
    answer appears after "FATAL:" (in English unless the server's lc_messages says otherwise; an
    answer not recognised counts as "up", the behaviour without the gate).
    """
    message = str(error)
    if "FATAL:" not in message:
        return True  # refused, unreachable, timed out, closed before answering
    return any(answer in message for answer in UNAVAILABLE_ANSWERS)


class GatedConnection(psycopg.Connection):
    """psycopg's connection, reporting each connection attempt's outcome to DATABASE_GATE (the pool's `connection_class`)."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs):
        started = time.monotonic()
        try:
            conn = super().connect(conninfo, **kwargs)
        except psycopg.Error as error:
            if is_outage(error):
                DATABASE_GATE.failed(started)
            raise
        DATABASE_GATE.reached()
        return conn


def pool_configured() -> bool:
    """Whether the default database goes through psycopg's pool."""
    return bool(settings.DATABASES["default"].get("OPTIONS", {}).get("pool"))


def pool_tune(*, reconnect_seconds: float, log_seconds: float) -> None:
    """Reconnect every `reconnect_seconds` after an outage; one pool warning per `log_seconds`."""
    from psycopg_pool.base import AttemptWithBackoff

    # Class attributes read on every attempt (pool.py and the getconn check loop alike).
    AttemptWithBackoff.INITIAL_DELAY = reconnect_seconds
    AttemptWithBackoff.DELAY_BACKOFF = 1.0  # a constant interval: never slower the longer the outage
    logger = logging.getLogger(POOL_LOGGER)
    for existing in [f for f in logger.filters if isinstance(f, WarningThrottle)]:
        logger.removeFilter(existing)
    logger.addFilter(WarningThrottle(log_seconds))


def pool_fill(*, timeout: float, pool=None) -> bool:
    """Open a pool (the default database's) and wait up to `timeout` for its min_size connections; True when full.

    Never raises: with the database down the worker serves anyway (503s until it is back). Not
    psycopg_pool's own `open(wait=True)`, which closes the pool for good when it times out.
    """
    if pool is None:
        from django.db import connection

        pool = connection.pool if connection.vendor == "postgresql" else None
    if pool is None:
        return True
    pool.open()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pool.get_stats().get("pool_available", 0) >= pool.min_size:
            return True
        time.sleep(0.02)
    return False


def pool_tune_from_settings() -> None:
    """Apply pool_tune with the settings' values when a pool is configured (AppConfig.ready)."""
    if not pool_configured():
        return
    from core.exceptions import DATABASE_OUTAGE_LOG_SECONDS

    pool_tune(reconnect_seconds=settings.DATABASE_POOL_RECONNECT_SECONDS, log_seconds=DATABASE_OUTAGE_LOG_SECONDS)
