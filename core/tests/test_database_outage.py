"""Failing fast on a database outage: timeouts sized for it, 503 with Retry-After, one log line per interval."""

import functools
import json
import logging
import socket
import subprocess
import sys

import pytest
from django.db.utils import ConnectionHandler

from core import exceptions as core_exceptions
from core.exceptions import exception_handler, is_database_outage


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@functools.cache
def _production_database_config(pool_size: str) -> dict:
    """DATABASES["default"] as base.py builds it for PostgreSQL (no connection is made)."""
    code = "import json; from config.settings import base; print(json.dumps(base.DATABASES['default']))"
    env = {"DATABASE_URL": "postgres://saas:pw@127.0.0.1:5432/saas", "DATABASE_POOL_MAX_SIZE": pool_size, "PATH": "/usr/bin:/bin"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(output.stdout)


def test_pool_checkout_waits_about_a_second_at_most():
    options = _production_database_config("10")["OPTIONS"]

    assert options["pool"]["timeout"] <= 1.5
    assert options["pool"]["max_size"] == 10


def test_connect_timeout_is_libpqs_minimum():
    # libpq and psycopg round anything under 2 up to 2; the old 5 s made requests wait out the outage.
    assert _production_database_config("0")["OPTIONS"]["connect_timeout"] == 2


@pytest.fixture
def outage_log_reset(monkeypatch):
    monkeypatch.setitem(core_exceptions._outage_log, "next", 0.0)
    monkeypatch.setitem(core_exceptions._outage_log, "suppressed", 0)


def test_postgresql_at_a_closed_port_is_a_503_with_retry_after(outage_log_reset):
    # given a real connection attempt to a PostgreSQL that is not there
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "saas",
                "USER": "saas",
                "HOST": "127.0.0.1",
                "PORT": str(_closed_port()),
                "OPTIONS": {"connect_timeout": 2},
            }
        }
    )
    connection = handler["default"]  # a handler of its own: not the test database
    try:
        with pytest.raises(Exception) as raised:
            # What ensure_connection does (pytest-django blocks ensure_connection itself).
            with connection.wrap_database_errors:
                connection.connect()
    finally:
        connection.close()

    # when the API's handler maps it
    response = exception_handler(raised.value, {"view": None})

    # then it is an outage: 503 SERVICE_UNAVAILABLE, Retry-After, nothing about the server
    assert is_database_outage(raised.value)
    assert response.status_code == 503
    assert response.data["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert response["Retry-After"] == "5"
    assert "127.0.0.1" not in json.dumps(response.data)


def test_outage_is_logged_once_per_interval_without_tracebacks(outage_log_reset, caplog):
    from django.db import OperationalError

    # when a burst of requests hits a database that is down
    with caplog.at_level(logging.WARNING, logger="core.errors"):
        for _ in range(50):
            exception_handler(OperationalError("connection failed: Connection refused"), {"view": None})

    # then one line, no traceback
    records = [record for record in caplog.records if record.name == "core.errors"]
    assert len(records) == 1
    assert records[0].exc_info is None
    assert "database unavailable" in records[0].getMessage()


def test_next_report_counts_what_was_suppressed(outage_log_reset, caplog, monkeypatch):
    from django.db import OperationalError

    for _ in range(3):
        core_exceptions.database_outage_log(OperationalError("connection failed"))
    # the interval passes
    monkeypatch.setitem(core_exceptions._outage_log, "next", 0.0)

    with caplog.at_level(logging.WARNING, logger="core.errors"):
        core_exceptions.database_outage_log(OperationalError("connection failed"))

    assert "2 more since the last report" in caplog.records[-1].getMessage()
