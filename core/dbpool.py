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

And a server worker fills its pool before it accepts requests (`pool_fill`, called by
core.asgi_worker): Django opens the pool at the first request, and a new (or recycled) worker
that receives a burst then grows it one connection at a time while requests wait out the 1 s
checkout timeout: the soak saw 503s in its first second.
"""

import logging
import threading
import time

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
