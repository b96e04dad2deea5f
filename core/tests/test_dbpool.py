"""psycopg's pool after a database outage (core/dbpool.py), against a real PostgreSQL behind a relay that can go down.

The relay stands for the outage: it cuts every live connection and refuses new ones, then listens
again on the same port. Skipped when no PostgreSQL answers (DATABASE_URL, else the local default).
"""

import logging
import os
import socket
import threading
import time

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout
from psycopg_pool.base import AttemptWithBackoff

from core import dbpool


def _target_conninfo() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(_target_conninfo(), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


pytestmark = pytest.mark.skipif(not _postgres_reachable(), reason="no PostgreSQL to relay to")


class Relay:
    """A TCP relay to PostgreSQL on a fixed loopback port; `down()` is an outage, `up()` the recovery."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listening = threading.Event()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)
        self._listening.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        self._listening.clear()
        time.sleep(0.1)  # the accept loop closes the listener: new connections are refused from now
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self._listening.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(self.target)
                with self._lock:
                    self._sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass


@pytest.fixture
def relay():
    params = conninfo_to_dict(_target_conninfo())
    relay = Relay(params.get("host") or "127.0.0.1", int(params.get("port") or 5432))
    relay.up()
    yield relay
    relay.down()


@pytest.fixture
def tuned():
    """pool_tune applied as at startup, and psycopg_pool's own values put back afterwards."""
    saved = AttemptWithBackoff.INITIAL_DELAY, AttemptWithBackoff.DELAY_BACKOFF
    yield dbpool.pool_tune
    AttemptWithBackoff.INITIAL_DELAY, AttemptWithBackoff.DELAY_BACKOFF = saved
    logger = logging.getLogger(dbpool.POOL_LOGGER)
    for throttle in [f for f in logger.filters if isinstance(f, dbpool.WarningThrottle)]:
        logger.removeFilter(throttle)


def _pool(relay: Relay, *, size: int = 2, open: bool = True) -> ConnectionPool:
    conninfo = make_conninfo(_target_conninfo(), host="127.0.0.1", port=relay.port, connect_timeout=2)
    pool = ConnectionPool(conninfo, min_size=size, max_size=size, timeout=1.0, check=ConnectionPool.check_connection, open=False)
    if open:
        pool.open(wait=True, timeout=10)
    return pool


def _select_one(pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        conn.execute("SELECT 1")


def test_pool_serves_within_half_a_second_of_the_database_returning(relay, tuned):
    # given a tuned pool whose database went away for 4 s (psycopg_pool alone would next try at ~7 s)
    tuned(reconnect_seconds=0.25, log_seconds=5)
    pool = _pool(relay)
    try:
        _select_one(pool)
        relay.down()
        with pytest.raises(PoolTimeout):
            _select_one(pool)
        time.sleep(3)

        # when it comes back
        relay.up()
        back = time.monotonic()
        while True:
            try:
                _select_one(pool)
                break
            except PoolTimeout:
                assert time.monotonic() - back < 5, "the pool never reconnected"

        # then the pool serves again within half a second
        assert time.monotonic() - back <= 0.5
    finally:
        pool.close()


def test_pool_warnings_are_one_per_interval_counting_the_rest(relay, tuned, caplog):
    tuned(reconnect_seconds=0.1, log_seconds=1.0)
    pool = _pool(relay, size=3)
    try:
        with caplog.at_level(logging.WARNING, logger=dbpool.POOL_LOGGER):
            # when the database is away for 2.5 s (3 discarded connections, ~60 failed attempts)
            relay.down()
            for _ in range(2):
                with pytest.raises(PoolTimeout):
                    _select_one(pool)
            time.sleep(0.6)
            relay.up()
            _select_one(pool)

        # then at most one warning per second reached the log, and a later one says what was held back
        records = [r for r in caplog.records if r.name == dbpool.POOL_LOGGER]
        assert 1 <= len(records) <= 4
        assert any("held back since the last one" in r.getMessage() for r in records[1:])
    finally:
        pool.close()


def test_pool_fill_opens_the_pool_full_before_serving(relay):
    pool = _pool(relay, size=3, open=False)
    try:
        assert dbpool.pool_fill(timeout=10, pool=pool) is True

        assert pool.get_stats()["pool_available"] == 3
    finally:
        pool.close()


def test_pool_fill_gives_up_without_closing_the_pool_when_the_database_is_down(relay, tuned):
    # given the database is down when a worker starts
    tuned(reconnect_seconds=0.1, log_seconds=5)
    relay.down()
    pool = _pool(relay, size=2, open=False)
    try:
        # when the worker fills its pool, it gives up after the timeout instead of hanging
        started = time.monotonic()
        assert dbpool.pool_fill(timeout=0.5, pool=pool) is False
        assert time.monotonic() - started < 1.5

        # then the pool still serves once the database is back (psycopg_pool's wait() would have closed it)
        relay.up()
        _select_one(pool)
    finally:
        pool.close()


def test_tuning_is_left_alone_without_a_pool(monkeypatch):
    # given settings without psycopg's pool (SQLite, or PostgreSQL with persistent connections)
    monkeypatch.setattr(dbpool, "pool_configured", lambda: False)
    monkeypatch.setattr(AttemptWithBackoff, "INITIAL_DELAY", 123.0)

    dbpool.pool_tune_from_settings()

    # then nothing of psycopg_pool is patched
    assert AttemptWithBackoff.INITIAL_DELAY == 123.0


@pytest.fixture
def gate(django_db_blocker):
    """core.dbpool.DATABASE_GATE as a fresh process has it, before and after; our own backends may connect."""
    dbpool.DATABASE_GATE.reached()
    with django_db_blocker.unblock():
        yield dbpool.DATABASE_GATE
    dbpool.DATABASE_GATE.reached()


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.02)


def _gated_backend(relay: Relay, alias: str, size: int = 1):
    """Our Django backend (core.db.postgresql) with a one-connection pool through the relay."""
    from django.db.utils import load_backend

    params = conninfo_to_dict(_target_conninfo())
    settings_dict = {
        "ENGINE": "core.db.postgresql",
        "NAME": params.get("dbname", "postgres"),
        "USER": params.get("user", ""),
        "PASSWORD": params.get("password", ""),
        "HOST": "127.0.0.1",
        "PORT": str(relay.port),
        "OPTIONS": {"pool": {"min_size": size, "max_size": size, "timeout": 1.0}, "connect_timeout": 2},
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "TIME_ZONE": None,
        "TEST": {},
    }
    return load_backend("core.db.postgresql").DatabaseWrapper(settings_dict, alias)


def _query(wrapper) -> None:
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        wrapper.close()  # back to the pool, as at the end of a request


def test_a_checkout_fails_at_once_while_the_pool_knows_the_database_is_away(relay, tuned, gate):
    from django.db import OperationalError

    # given our backend with a pool whose connections go through the relay
    tuned(reconnect_seconds=0.1, log_seconds=5)
    wrapper = _gated_backend(relay, "fast_fail_probe")
    try:
        _query(wrapper)
        assert gate.down_since is None

        # when PostgreSQL goes away, the first request waits out its checkout as before...
        relay.down()
        with pytest.raises(OperationalError):
            _query(wrapper)
        _wait_for(lambda: gate.down_since is not None)

        # ...then every later one is refused without queueing for a connection
        checkouts = wrapper.pool.get_stats()["requests_num"]
        for _ in range(5):
            with pytest.raises(OperationalError, match="failing fast"):
                _query(wrapper)
        assert wrapper.pool.get_stats()["requests_num"] == checkouts

        # and once the pool's own reconnection reaches PostgreSQL, requests are served again
        relay.up()
        _wait_for(lambda: gate.down_since is None)
        _query(wrapper)
    finally:
        wrapper.close_pool()


def test_a_checkout_stops_at_the_first_broken_connection_once_the_database_is_known_away(relay, tuned, gate):
    from django.db import OperationalError

    # given a pool of three, all idle when PostgreSQL goes away (every one of them now broken), and
    # the pool's reconnection attempt failed
    tuned(reconnect_seconds=5, log_seconds=5)
    wrapper = _gated_backend(relay, "fast_fail_broken", size=3)
    try:
        wrapper.pool.open(wait=True, timeout=10)
        relay.down()
        gate.failed(time.monotonic())

        # when a request checks out, it is refused at the first broken connection instead of
        # trying the others one after another until the checkout times out
        with pytest.raises(OperationalError, match="failing fast"):
            _query(wrapper)
        assert wrapper.pool.get_stats()["pool_available"] == 2
    finally:
        wrapper.close_pool()


def test_a_request_after_the_database_returned_is_served_before_the_pools_next_reconnection(relay, tuned, gate):
    from django.db import OperationalError

    # given a database known away, and a pool that tries to reconnect only every 0.6 s
    tuned(reconnect_seconds=0.6, log_seconds=5)
    wrapper = _gated_backend(relay, "fast_fail_knock")
    try:
        _query(wrapper)
        relay.down()
        with pytest.raises(OperationalError):
            _query(wrapper)
        _wait_for(lambda: gate.down_since is not None)
        with pytest.raises(OperationalError, match="failing fast"):
            _query(wrapper)  # knocks: refused

        # when PostgreSQL is back, the next request knocks, finds it, and waits for the pool's
        # connection instead of being refused until the pool's own attempt succeeds
        relay.up()
        time.sleep(2 * gate.PROBE_REUSE_SECONDS)  # the refused knock's answer is shared this long
        _query(wrapper)
        assert gate.down_since is None
    finally:
        wrapper.close_pool()


def test_the_gate_never_refuses_while_a_connection_is_idle(relay, tuned, gate):
    # given a pool whose last connection attempt failed but which still holds a live connection
    tuned(reconnect_seconds=0.1, log_seconds=5)
    pool = _pool(relay, size=1)
    try:
        gate.failed(time.monotonic())

        # then a checkout is let through to it (a failed attempt elsewhere is no outage of this one)
        gate.check(pool)
        _select_one(pool)
    finally:
        pool.close()


def test_the_backend_makes_pool_connections_that_report_to_the_gate(relay, gate):
    wrapper = _gated_backend(relay, "fast_fail_class")
    try:
        assert wrapper.pool.connection_class is dbpool.GatedConnection

        # a failed attempt closes the gate...
        with pytest.raises(psycopg.OperationalError):
            dbpool.GatedConnection.connect(make_conninfo(_target_conninfo(), host="127.0.0.1", port=1, connect_timeout=2))
        assert gate.down_since is not None

        # ...and the pool's next connection to PostgreSQL opens it
        wrapper.pool.open(wait=True, timeout=10)
        assert gate.down_since is None
        _query(wrapper)
    finally:
        wrapper.close_pool()


def test_an_answer_from_a_running_server_never_closes_the_gate(gate):
    # a missing database, an unknown role, too many clients: PostgreSQL answered, so it is up
    for conninfo in (
        make_conninfo(_target_conninfo(), dbname="no_such_database_here", connect_timeout=2),
        make_conninfo(_target_conninfo(), user="no_such_role_here", connect_timeout=2),
    ):
        with pytest.raises(psycopg.OperationalError):
            dbpool.GatedConnection.connect(conninfo)
    assert gate.down_since is None
    too_many = psycopg.OperationalError('connection to server at "db", port 5432 failed: FATAL:  sorry, too many clients already')
    starting = psycopg.OperationalError('connection to server at "db", port 5432 failed: FATAL:  the database system is starting up')
    assert not dbpool.is_outage(too_many) and dbpool.is_outage(starting)


def test_an_attempt_that_began_before_the_server_answered_does_not_close_the_gate(gate):
    # given an attempt that began, then PostgreSQL answered another one
    began = time.monotonic()
    gate.reached()

    # when the first attempt fails late (an unreachable host running out its connect timeout)
    gate.failed(began)

    # then the gate stays open; a failure begun after the answer closes it
    assert gate.down_since is None
    gate.failed(time.monotonic())
    assert gate.down_since is not None


def test_a_pooled_connection_that_passes_its_check_opens_the_gate(relay, gate):
    pool = ConnectionPool(
        make_conninfo(_target_conninfo(), host="127.0.0.1", port=relay.port, connect_timeout=2),
        min_size=1, max_size=1, timeout=1.0, check=dbpool.check_connection, open=False,
    )  # fmt: skip
    pool.open(wait=True, timeout=10)
    try:
        # given a gate closed by a failure (say, one begun before the server came back)
        gate.failed(time.monotonic())

        # when a request checks out the pool's working connection, the gate opens again
        _select_one(pool)
        assert gate.down_since is None
    finally:
        pool.close()


def test_an_old_failure_never_turns_one_dropped_idle_connection_into_a_503(relay, tuned, gate):
    # given a full, healthy pool of three and a failed attempt older than the gate's freshness
    tuned(reconnect_seconds=0.1, log_seconds=5)
    wrapper = _gated_backend(relay, "fast_fail_stale", size=3)
    try:
        wrapper.pool.open(wait=True, timeout=10)
        gate.failed(time.monotonic())
        gate.failed_at -= gate.FRESH_SECONDS
        assert gate.down_since is not None and not gate.recently_failed()

        # when one idle connection was dropped by the server (idle timeout, pg_terminate_backend)
        wrapper.pool._pool[0].pgconn.finish()

        # then the request is served by another one, as psycopg_pool alone would, and the gate opens
        _query(wrapper)
        assert gate.down_since is None
    finally:
        wrapper.close_pool()
