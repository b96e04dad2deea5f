"""The cache circuit breaker (core/cache.py) against a real redis-server of the test's own."""

import logging
import shutil
import socket
import subprocess
import time

import pytest
from django.conf import settings
from django_redis.cache import RedisCache
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from core import cache as breaker_module
from core.tests.test_faults import owner_client, redis_down  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


def _spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_start(port: int) -> None:
    subprocess.run(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--daemonize", "yes"], check=True, capture_output=True)
    for _ in range(100):  # wait until it accepts connections
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def _redis_stop(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)


class _Clock:
    """The breaker's clock, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(breaker_module, "monotonic", clock)
    return clock


@pytest.fixture
def redis_port():
    port = _spare_port()
    _redis_start(port)
    yield port
    _redis_stop(port)


@pytest.fixture
def connects(monkeypatch):
    """Count TCP connection attempts to Redis (a spy: the real connect still runs)."""
    calls = []
    original = Connection._connect

    def spy(self):
        calls.append(self.port)
        return original(self)

    monkeypatch.setattr(Connection, "_connect", spy)
    return calls


@pytest.fixture
def make_cache():
    """A cache built exactly as production's CACHES (base.py with REDIS_URL), at a given port."""
    breaker_module.breakers_reset()
    made = []

    def make(port: int, ignore_exceptions: bool = True) -> RedisCache:
        params = {
            "OPTIONS": {
                "CLIENT_CLASS": "core.cache.CircuitBreakerClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                "IGNORE_EXCEPTIONS": ignore_exceptions,
            },
            "KEY_PREFIX": "breaker-test",
        }
        cache = RedisCache(f"redis://127.0.0.1:{port}/0", params)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()
    breaker_module.breakers_reset()


def test_production_settings_use_the_breaker_client():
    from core.tests.test_faults import _production_cache_config

    config = _production_cache_config("redis://127.0.0.1:6399/0")

    assert config["OPTIONS"]["CLIENT_CLASS"] == "core.cache.CircuitBreakerClient"
    assert config["OPTIONS"]["IGNORE_EXCEPTIONS"] is True
    assert settings.CACHE_BREAKER_SECONDS == 5


def test_redis_up_calls_pass_through(redis_port, make_cache):
    cache = make_cache(redis_port)

    cache.set("k", "v", 30)

    assert cache.get("k") == "v"
    assert cache.add("k", "other", 30) is False
    assert cache.delete("k") is True
    assert not breaker_module.breaker_for([f"redis://127.0.0.1:{redis_port}/0"]).is_open


def test_outage_costs_one_connection_attempt_per_interval(redis_port, make_cache, connects, clock, caplog):
    # given a working cache whose Redis then goes away
    cache = make_cache(redis_port)
    cache.set("k", "v", 30)
    _redis_stop(redis_port)
    connects.clear()

    # when a burst of calls of every kind hits it
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        results = [cache.get("k") for _ in range(20)]
        results += [cache.get_many(["k", "j"]) for _ in range(5)]
        for _ in range(20):
            cache.set("k", "v", 30)
            cache.delete_many(["k"])

    # then every read misses, at most one call tried to reconnect, and one warning was logged
    assert results == [None] * 20 + [{}] * 5
    assert len(connects) <= 1
    warnings = [record for record in caplog.records if record.name == "core.cache"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].exc_info is None  # one line, no traceback
    assert "unreachable" in warnings[0].getMessage()


def test_next_interval_probes_once_and_warns_once_more(redis_port, make_cache, connects, clock, caplog):
    # given Redis down and the breaker open
    cache = make_cache(redis_port)
    _redis_stop(redis_port)
    cache.get("k")
    connects.clear()
    caplog.clear()

    # when the interval passes and calls keep coming
    clock.now += settings.CACHE_BREAKER_SECONDS + 0.1
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        for _ in range(30):
            cache.get("k")

    # then one call probed (and failed), the rest skipped, with one warning for the new interval
    assert len(connects) == 1
    assert len([record for record in caplog.records if record.name == "core.cache"]) == 1


def test_recovery_after_the_interval(redis_port, make_cache, clock, caplog):
    # given an outage the breaker noticed
    cache = make_cache(redis_port)
    _redis_stop(redis_port)
    assert cache.get("k") is None
    breaker = breaker_module.breaker_for([f"redis://127.0.0.1:{redis_port}/0"])
    assert breaker.is_open

    # when Redis is back: within the interval the cache is still skipped...
    _redis_start(redis_port)
    cache.set("k", "v", 30)
    assert cache.get("k") is None

    # ... and after it the cache serves again
    clock.now += settings.CACHE_BREAKER_SECONDS + 0.1
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        cache.set("k", "v", 30)
    assert cache.get("k") == "v"
    assert not breaker.is_open
    assert any("reachable again" in record.getMessage() for record in caplog.records)


def test_fail_closed_operations_still_signal_failure(redis_port, make_cache, clock):
    # given the breaker open
    cache = make_cache(redis_port)
    cache.set("spend-me", "1", 30)
    _redis_stop(redis_port)
    cache.get("x")

    # then add (replay protection) and delete (single-use spends) do not report success
    # (internal/authentication.py reads a non-bool add as "cache down"; accounts/sessions.py a falsy delete as "spent")
    assert cache.add("signature", 1, 30) is None
    assert not cache.delete("spend-me")


def test_without_ignore_exceptions_an_open_breaker_raises_a_connection_error(redis_port, make_cache, connects, clock):
    # given a cache that does not swallow errors, with Redis down
    cache = make_cache(redis_port, ignore_exceptions=False)
    _redis_stop(redis_port)
    with pytest.raises(RedisConnectionError):
        cache.get("k")
    connects.clear()

    # then later calls raise at once, without a connection attempt
    with pytest.raises(RedisConnectionError, match="cache skipped"):
        cache.add("signature", 1, 30)
    assert connects == []


def test_an_unreachable_cache_keeps_sessions_checked_in_the_database(owner_client, redis_down, connects, caplog):  # noqa: F811  (fixtures)
    # given Redis down (production's cache configuration, breaker included)
    breaker_module.breakers_reset()

    # when many requests come
    with caplog.at_level(logging.WARNING):
        statuses = [owner_client.get("/api/v1/users/me").status_code for _ in range(5)]
    assert owner_client.post("/api/v1/auth/logout").status_code == 204

    # then they are served, sessions are checked in the database, and Redis was tried once
    assert statuses == [200] * 5
    assert owner_client.get("/api/v1/users/me").status_code == 401
    assert len(connects) <= 1
    assert len([record for record in caplog.records if record.name == "core.cache"]) == 1
    assert not [record for record in caplog.records if record.exc_info]
    breaker_module.breakers_reset()
