"""An outage costs little and is said once per interval (issue 19, found by `make soak`).

- A database outage's 503s are not logged again by Django's request logger (an ERROR line per
  request); core.errors reports the outage once per interval.
- /health/ready says which check failed once per interval, not once per probe.
- With the Celery broker down, tasks go straight to the outbox after the first failure instead
  of paying ~0.6 s of connection retries each, with one warning per interval.
- The cache breaker stays open when a call that began before the outage succeeds after it.
"""

import logging

import pytest

from core import cache as breaker_module
from core import views
from core.cache import CircuitBreaker
from core.models import OutboxTask
from core.tests.test_cache_breaker import connects  # noqa: F401  (fixture)
from core.tests.test_database_outage import outage_log_reset  # noqa: F401  (fixture)
from core.tests.test_faults import broker_down, database_down, owner_client  # noqa: F401  (fixtures)


@pytest.fixture
def readiness_log_reset(monkeypatch):
    monkeypatch.setattr(views, "_readiness_log", {})


@pytest.fixture
def breakers():
    breaker_module.breakers_reset()
    yield
    breaker_module.breakers_reset()


def _records(caplog, name: str, level: int = logging.WARNING) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name and record.levelno >= level]


def test_database_outage_503s_are_logged_once_not_per_request(owner_client, database_down, outage_log_reset, caplog):  # noqa: F811
    with caplog.at_level(logging.WARNING):
        statuses = [owner_client.get(f"/api/v1/orgs/{owner_client.organization.id}/members").status_code for _ in range(5)]

    assert statuses == [503] * 5
    assert _records(caplog, "django.request") == []
    assert len(_records(caplog, "core.errors")) == 1


def test_readiness_names_the_failing_check_once_per_interval(api_client, database_down, readiness_log_reset, caplog):  # noqa: F811
    with caplog.at_level(logging.WARNING):
        responses = [api_client.get("/health/ready") for _ in range(5)]

    assert [response.status_code for response in responses] == [503] * 5
    assert all(response.json()["failing"] == ["database"] for response in responses)
    warnings = _records(caplog, "core.views")
    assert len(warnings) == 1
    assert "readiness check database failed" in warnings[0].getMessage()
    assert _records(caplog, "django.request") == []


def test_readiness_reports_how_many_failures_it_held_back(api_client, database_down, readiness_log_reset, monkeypatch, caplog):  # noqa: F811
    for _ in range(3):
        api_client.get("/health/ready")
    monkeypatch.setitem(views._readiness_log, "database", (0.0, views._readiness_log["database"][1]))  # the interval passes

    with caplog.at_level(logging.WARNING):
        api_client.get("/health/ready")

    assert "2 more since the last report" in _records(caplog, "core.views")[-1].getMessage()


def test_broker_down_tasks_skip_it_after_the_first_failure(
    owner_client,  # noqa: F811
    broker_down,  # noqa: F811
    breakers,
    connects,  # noqa: F811
    django_capture_on_commit_callbacks,
    caplog,
):
    organization = owner_client.organization

    def invite(email: str) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return owner_client.post(f"/api/v1/orgs/{organization.id}/invites", {"email": email, "role": "member"}, format="json").status_code

    # given the first task found the broker down
    with caplog.at_level(logging.WARNING):
        assert invite("first@corp.example") == 201
        attempts = len(connects)
        assert attempts >= 1

        # when more tasks are queued within the interval
        assert invite("second@corp.example") == 201
        assert invite("third@corp.example") == 201

    # then they went straight to the outbox, with no connection attempt and one warning in all
    assert len(connects) == attempts
    assert OutboxTask.objects.filter(task_name="organizations.tasks.send_invite_email").count() == 3
    warnings = _records(caplog, "core.cache")
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith("broker ") and "tasks are kept in the outbox" in warnings[0].getMessage()
    assert _records(caplog, "core.tasks") == []


def test_a_call_that_began_before_a_failure_does_not_close_the_breaker():
    breaker = CircuitBreaker("127.0.0.1:6379/0", 5)

    # given a call in flight when another one fails
    began = breaker.failures
    breaker.failure(ConnectionError("Connection refused"))

    # when the call in flight succeeds (it reached Redis before the outage), the breaker stays open
    breaker.success(failures_before=began)
    assert breaker.is_open

    # a probe that began after the failure closes it
    breaker.success(failures_before=breaker.failures)
    assert not breaker.is_open
