"""A circuit breaker around the Redis cache: an outage costs one connection attempt per interval.

Without it every cache call during a Redis outage pays a connection attempt and (with
IGNORE_EXCEPTIONS) logs a traceback: ~10 per request. With it, after a connection failure the
cache is skipped for CACHE_BREAKER_SECONDS: calls fail at once, without touching the network, and
django-redis turns that into what an outage already meant (reads miss, writes are dropped, `add`
and `delete` answer None so callers that must fail closed still do). Then one call probes Redis
while the others keep skipping; the log gets one warning per interval per process.

Used as django-redis's CLIENT_CLASS (config/settings/base.py).
"""

import logging
import socket
import threading
import time

from django.conf import settings
from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Errors that mean "Redis cannot be reached" (a ResponseError, e.g. WRONGTYPE, is a bug, not an outage).
_OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, socket.timeout, OSError)


def monotonic() -> float:
    """The breaker's clock (a module function, so tests can move it)."""
    return time.monotonic()


class CircuitBreaker:
    """Closed: calls pass. Open (after a failure): calls are refused until the interval ends, then one probes.

    `subject` and `consequence` name what is skipped and what that means, for the warning.
    """

    def __init__(self, name: str, seconds: float, *, subject: str = "cache", consequence: str = "reads miss, writes are dropped"):
        self.name = name
        self.seconds = seconds
        self.subject = subject
        self.consequence = consequence
        self._lock = threading.Lock()
        self._open_until = 0.0  # 0.0: closed
        self._next_warning = 0.0
        # Counts failures: a call that began before the latest one must not close the breaker
        # when it succeeds (it reached Redis before the outage, not after it).
        self._failures = 0

    @property
    def failures(self) -> int:
        """How many failures so far (pass it back to `success` as `failures_before`)."""
        return self._failures

    @property
    def is_open(self) -> bool:
        """Whether calls are being skipped right now."""
        return bool(self._open_until) and monotonic() < self._open_until

    def allow(self) -> bool:
        """Tell whether a call may reach Redis; past the interval, exactly one caller probes."""
        if not self._open_until:  # closed: no lock on the hot path
            return True
        with self._lock:
            if not self._open_until:
                return True
            now = monotonic()
            if now < self._open_until:
                return False
            # Half-open: this caller probes; the others keep skipping until it answers.
            self._open_until = now + self.seconds
            return True

    def failure(self, error: BaseException) -> None:
        """Open the breaker for an interval; warn once per interval."""
        with self._lock:
            now = monotonic()
            self._failures += 1
            self._open_until = now + self.seconds
            warn = now >= self._next_warning
            if warn:
                self._next_warning = now + self.seconds
        if warn:
            # One line, no traceback: the cause's class and message are all an operator needs.
            logger.warning(
                "%s %s unreachable (%s: %s); skipping it for %ss (%s)",
                self.subject,
                self.name,
                type(error).__name__,
                error,
                self.seconds,
                self.consequence,
            )

    def success(self, *, failures_before: int | None = None) -> None:
        """Close the breaker after a call reached the server (unless another call failed since it began)."""
        if not self._open_until:
            return
        with self._lock:
            if failures_before is not None and failures_before != self._failures:
                return
            was_open, self._open_until = self._open_until, 0.0
        if was_open:
            logger.warning("%s %s reachable again", self.subject, self.name)


_breakers: dict[tuple, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(servers, *, subject: str = "cache", consequence: str = "reads miss, writes are dropped") -> CircuitBreaker:
    """The process's breaker for one Redis location (caches are per thread; the breaker is per process)."""
    key = (subject, *servers)
    breaker = _breakers.get(key)
    if breaker is None:
        seconds = float(getattr(settings, "CACHE_BREAKER_SECONDS", 5))
        with _breakers_lock:
            breaker = _breakers.setdefault(key, CircuitBreaker(name=_display_name(tuple(servers)), seconds=seconds, subject=subject, consequence=consequence))
    return breaker


def cache_outage() -> bool:
    """Whether a cache breaker of this process is open right now (Redis away: reads miss at once)."""
    return any(breaker.is_open for (subject, *_servers), breaker in list(_breakers.items()) if subject == "cache")


class OutageCopies:
    """A small process-local copy of versioned cache entries, used only while the cache is away.

    For values whose key names their version (e.g. an org's authorization revision), so a copy can
    never be stale, only unused: with Redis down they would be read from the database on every
    request; this keeps the last `size` of them in the worker instead (issue 19). Outside an outage
    it is neither read nor written.
    """

    def __init__(self, size: int = 2048, seconds: float = 300):
        self.size, self.seconds = size, seconds
        self._items: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: str):
        if not cache_outage():
            return None
        found = self._items.get(key)
        if found is None or found[0] < monotonic():
            return None
        return found[1]

    def set(self, key: str, value) -> None:
        if not cache_outage():
            return
        with self._lock:
            if len(self._items) >= self.size:
                # Oldest first (dicts keep insertion order): a bounded copy, never a leak.
                for stale in list(self._items)[: self.size // 4]:
                    del self._items[stale]
            self._items[key] = (monotonic() + self.seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def breakers_reset() -> None:
    """Forget every breaker (tests)."""
    with _breakers_lock:
        _breakers.clear()


def _display_name(servers: tuple) -> str:
    # host:port/db only: a URL may carry a password.
    return ",".join(str(server).rsplit("@", 1)[-1].split("://", 1)[-1] for server in servers)


_depth = threading.local()

# The client methods that talk to Redis (RedisCache calls these; nested calls, such as add → set,
# are guarded once, by the outermost one).
_GUARDED = (
    "add",
    "clear",
    "decr",
    "delete",
    "delete_many",
    "delete_pattern",
    "expire",
    "expire_at",
    "get",
    "get_many",
    "has_key",
    "incr",
    "incr_version",
    "keys",
    "persist",
    "pexpire",
    "pexpire_at",
    "pttl",
    "set",
    "set_many",
    "touch",
    "ttl",
)


def _guarded(name: str):
    method = getattr(DefaultClient, name)

    def call(self, *args, **kwargs):
        if getattr(_depth, "value", 0):
            return method(self, *args, **kwargs)
        breaker = self.breaker
        if not breaker.allow():
            # What django-redis raises for an outage: RedisCache answers a miss / None with
            # IGNORE_EXCEPTIONS, or re-raises the cause without it. No connection attempted.
            raise ConnectionInterrupted(connection=None) from RedisConnectionError(f"cache skipped for up to {breaker.seconds}s after a failure")
        failures = breaker.failures
        _depth.value = 1
        try:
            result = method(self, *args, **kwargs)
        except ConnectionInterrupted as exc:
            if isinstance(exc.__cause__, _OUTAGE_ERRORS):
                breaker.failure(exc.__cause__)
            raise
        finally:
            _depth.value = 0
        breaker.success(failures_before=failures)
        return result

    call.__name__ = name
    call.__doc__ = method.__doc__
    return call


class CircuitBreakerClient(DefaultClient):
    """django-redis's DefaultClient behind a per-process circuit breaker (see the module docstring)."""

    @property
    def breaker(self) -> CircuitBreaker:
        """This location's breaker."""
        return breaker_for(self._server)


for _name in _GUARDED:
    setattr(CircuitBreakerClient, _name, _guarded(_name))
