"""Health probes and Prometheus metrics (no auth)."""

import json
import socket

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

HEALTHY_CHECKS = {"database": "ok", "cache": "ok", "broker": "skipped"}


def test_health(api_client, db):
    response = api_client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_health_live(api_client, db):
    response = api_client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_ready_with_eager_celery_skips_the_broker(api_client, db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    response = api_client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": HEALTHY_CHECKS}


@pytest.fixture
def database_down(db):
    """Make every attempt to reach the database fail as an outage does."""

    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    # Own context, so the database is back before the `db` fixture tears its transaction down.
    with pytest.MonkeyPatch.context() as patch:
        # ensure_connection is what both a cursor and the request transaction go through.
        patch.setattr(connection, "ensure_connection", refuse)
        yield


def test_ready_names_the_database_when_it_is_down(api_client, database_down):
    response = api_client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["database"]
    assert body["checks"] == {**HEALTHY_CHECKS, "database": "error"}


@pytest.mark.parametrize("path", ["/health", "/health/live"])
def test_liveness_does_not_need_the_database(api_client, database_down, path):
    response = api_client.get(path)

    assert response.status_code == 200


def test_ready_names_the_cache_when_it_is_down(api_client, db, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "set", refuse)

    response = api_client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache"]
    assert body["checks"] == {**HEALTHY_CHECKS, "cache": "error"}


def _closed_port() -> int:
    """Return a local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ready_names_an_unreachable_broker(api_client, db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    response = api_client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"] == {**HEALTHY_CHECKS, "broker": "error"}


def test_broker_probe_makes_a_single_attempt(db, settings, monkeypatch):
    # given a broker that refuses connections, and a record of every attempt
    from kombu import Connection

    from core import views

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    attempts = []
    original = Connection._ensure_connection

    def spy(self, *args, **kwargs):
        attempts.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "_ensure_connection", spy)

    with pytest.raises(Exception):  # noqa: B017 - readiness counts any failure as "not ready"; the test asserts no more
        views._check_broker()

    # then no retry loop with sleeps between attempts keeps the probe waiting
    assert [kwargs.get("max_retries") for kwargs in attempts] == [0]


def test_metrics_is_prometheus_text(api_client, db):
    api_client.get("/health")

    response = api_client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert "django_http_requests_latency_seconds_by_view_method" in text
    assert "# TYPE" in text


def test_healthcheck_command_reports_and_passes(db, capsys):
    call_command("healthcheck")

    assert json.loads(capsys.readouterr().out) == HEALTHY_CHECKS


def test_healthcheck_command_fails_naming_the_broken_part(db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    with pytest.raises(CommandError, match="broker"):
        call_command("healthcheck", "--only", "broker")


def test_healthcheck_command_rejects_unknown_checks(db):
    with pytest.raises(CommandError, match="nope"):
        call_command("healthcheck", "--only", "nope")
