"""What the app does when a dependency is down: database, Redis cache, Celery broker."""

import copy
import functools
import json
import socket
import subprocess
import sys

import pytest
from celery import current_app
from django.db import OperationalError, connection

from accounts.models import UserSession
from conftest import client_for
from core.models import OutboxTask
from core.tasks import outbox_send


def _closed_port() -> int:
    """Return a local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def owner_client(org_factory, unlimited_plan):
    organization, members = org_factory(roles=("owner",))
    client = client_for(members["owner"].user, organization)
    client.organization = organization
    return client


# --- database down ------------------------------------------------------------------------


@pytest.fixture
def database_down(db):
    """Every attempt to reach the database fails as an outage does."""

    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    # Own context, so the database is back before the `db` fixture tears its transaction down.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connection, "ensure_connection", refuse)
        yield


def test_database_down_api_call_is_503_in_the_envelope(owner_client, database_down):
    response = owner_client.get(f"/api/v1/orgs/{owner_client.organization.id}/members")

    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["request_id"]
    assert response["Retry-After"]
    assert "Traceback" not in response.content.decode() and "could not connect" not in response.content.decode()


def test_database_down_readiness_is_503_naming_it(api_client, database_down):
    response = api_client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


# --- Redis down ---------------------------------------------------------------------------

_CLOSED_PORT = _closed_port()


@functools.cache
def _production_cache_config(redis_url: str) -> dict:
    """CACHES["default"] exactly as base.py builds it when REDIS_URL is set."""
    code = "import json; from config.settings import base; print(json.dumps(base.CACHES['default']))"
    env = {"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(output.stdout)


@pytest.fixture
def redis_down(settings):
    """Point the cache, configured as in production, at a Redis nobody listens on."""
    config = copy.deepcopy(_production_cache_config(f"redis://127.0.0.1:{_CLOSED_PORT}/0"))
    assert config["BACKEND"] == "django_redis.cache.RedisCache"
    settings.CACHES = {"default": config}
    yield config


def test_production_cache_ignores_redis_errors(redis_down):
    assert redis_down["OPTIONS"]["IGNORE_EXCEPTIONS"] is True


def test_redis_down_the_app_keeps_serving(owner_client, redis_down):
    response = owner_client.get(f"/api/v1/orgs/{owner_client.organization.id}/members")

    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_redis_down_login_and_refresh_still_work(owner_client, redis_down):
    response = owner_client.post("/api/v1/auth/refresh", {"refresh_token": owner_client.tokens["refresh_token"]}, format="json")

    assert response.status_code == 200


def test_redis_down_revoked_sessions_stay_revoked(owner_client, redis_down):
    # given the session is revoked while Redis cannot record it
    assert owner_client.post("/api/v1/auth/logout").status_code == 204
    assert UserSession.objects.get(user=owner_client.user).revoked_at is not None

    # then the access token is refused: the check falls back to the database
    response = owner_client.get("/api/v1/users/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "TOKEN_INVALID"


def test_redis_down_throttles_fail_open(owner_client, redis_down, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "1/min"},
    }

    statuses = [owner_client.get("/api/v1/users/me").status_code for _ in range(3)]

    # Documented choice: without the shared counter store, requests are served unthrottled
    # (django-axes lockouts live in the database and still hold).
    assert statuses == [200, 200, 200]


def test_redis_down_readiness_names_the_cache(api_client, db, redis_down):
    response = api_client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]


# --- Celery broker down -------------------------------------------------------------------


@pytest.fixture
def broker_down(monkeypatch):
    """Publish for real (not eagerly) to a broker nobody listens on, failing fast."""
    conf = current_app.conf
    monkeypatch.setitem(conf, "task_always_eager", False)
    monkeypatch.setitem(conf, "broker_url", f"redis://127.0.0.1:{_closed_port()}/0")
    monkeypatch.setitem(conf, "task_publish_retry", False)
    monkeypatch.setitem(conf, "broker_connection_retry", False)
    monkeypatch.setitem(conf, "broker_connection_max_retries", 0)
    monkeypatch.setitem(conf, "broker_transport_options", {"max_retries": 0, "socket_connect_timeout": 1})
    # Producers pooled for the old broker must not be reused.
    monkeypatch.setattr(current_app, "_pool", None)
    monkeypatch.setattr(current_app.amqp, "_producer_pool", None)
    yield
    current_app.pool.force_close_all()


def test_broker_down_the_invite_commits_and_its_email_is_sent_later(owner_client, broker_down, monkeypatch, mailoutbox, django_capture_on_commit_callbacks):
    organization = owner_client.organization

    # when an invite is created while the broker is unreachable
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/api/v1/orgs/{organization.id}/invites", {"email": "new@corp.example", "role": "member"}, format="json")

    # then the change is saved and answered, and the email task waits in the outbox
    assert response.status_code == 201, response.content
    assert organization.invites.filter(email="new@corp.example").exists()
    kept = OutboxTask.objects.get()
    assert kept.task_name == "organizations.tasks.send_invite_email"
    assert response.json()["code"] not in kept.payload  # the one-time code is stored encrypted
    assert mailoutbox == []

    # when beat runs while the broker is still down, the task stays, with a later attempt
    assert outbox_send() == 0
    kept.refresh_from_db()
    assert kept.attempts == 1 and kept.next_attempt_at > kept.created_at

    # when the broker is back (eager here: the task runs in-process)
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)
    kept.next_attempt_at = kept.created_at
    kept.save(update_fields=["next_attempt_at"])
    assert outbox_send() == 1

    # then the email leaves, with the code the invitee must receive
    assert not OutboxTask.objects.exists()
    assert len(mailoutbox) == 1
    assert response.json()["code"] in mailoutbox[0].body


def test_broker_down_password_reset_request_still_answers(api_client, user, broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password/reset-request", {"email": user.email}, format="json")

    assert response.status_code == 202
    assert OutboxTask.objects.filter(task_name="accounts.tasks.send_password_reset_email").count() == 1


def test_beat_re_sends_the_outbox_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["core-outbox-flush"]

    assert entry["task"] == "core.tasks.outbox_flush" and entry["schedule"] <= 60
    assert "core.tasks.outbox_flush" in current_app.tasks
