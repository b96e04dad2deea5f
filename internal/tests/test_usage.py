"""POST orgs/{id}/usage: counted against the plan like AI requests, once per idempotency key, audited as the service."""

import time
import uuid

import pytest
from django.db import connection

from audit.models import AuditEvent
from billing.models import UsageCounter
from conftest import client_for
from core import entitlements
from core.testing import run_together
from internal.models import UsageRecord
from internal.tests.conftest import SERVICE, SignedClient, code_of


def usage_path(organization) -> str:
    return f"/internal/v1/orgs/{organization.id}/usage"


def report(key: str, quantity: int = 1) -> dict:
    return {"feature": "ai_requests", "quantity": quantity, "idempotency_key": key}


def test_usage_is_counted_and_answers_used_and_limit(signed, org_factory):
    # given: a free org (100 AI requests a month)
    organization, _ = org_factory()

    # when
    response = signed.post(usage_path(organization), report("r-1", 3))

    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"used": 3, "limit": 100}
    assert entitlements.used(organization, "ai_requests") == 3


def test_usage_counts_against_the_same_allowance_as_ai_requests(signed, org_factory):
    # given: the org's AI chat used 10 this month
    organization, _ = org_factory()
    entitlements.consume(organization, "ai_requests", quantity=10)

    # when
    response = signed.post(usage_path(organization), report("r-1", 5))

    # then
    assert response.json() == {"used": 15, "limit": 100}


def test_the_same_key_twice_counts_once(signed, org_factory):
    # given
    organization, _ = org_factory()
    now = int(time.time())
    first = signed.post(usage_path(organization), report("same", 2), timestamp=now)

    # when: the service retries (a new signature: the replay guard is not what deduplicates)
    again = signed.post(usage_path(organization), report("same", 2), timestamp=now - 1)

    # then
    assert first.status_code == again.status_code == 200
    assert again.json() == {"used": 2, "limit": 100}
    assert UsageRecord.objects.filter(service=SERVICE, idempotency_key="same").count() == 1
    assert AuditEvent.objects.filter(action="usage.recorded").count() == 1


def test_two_services_may_use_the_same_key(signed, org_factory, service_keys):
    organization, _ = org_factory()

    signed.post(usage_path(organization), report("shared", 1))
    other = signed.post(usage_path(organization), report("shared", 1), service="billing-worker", secret=service_keys["billing-worker"])

    assert other.json()["used"] == 2


def test_the_same_key_for_another_report_is_a_conflict(signed, org_factory):
    organization, _ = org_factory()
    signed.post(usage_path(organization), report("k", 1))

    response = signed.post(usage_path(organization), report("k", 7))

    assert response.status_code == 409 and code_of(response) == "CONFLICT"
    assert entitlements.used(organization, "ai_requests") == 1


def test_over_the_limit_is_402_and_nothing_is_recorded(signed, org_factory):
    # given: 99 of 100 used
    organization, _ = org_factory()
    entitlements.consume(organization, "ai_requests", quantity=99)

    # when
    response = signed.post(usage_path(organization), report("big", 2))

    # then
    assert response.status_code == 402 and code_of(response) == "PLAN_LIMIT_REACHED"
    assert entitlements.used(organization, "ai_requests") == 99
    assert not UsageRecord.objects.filter(idempotency_key="big").exists()
    assert not AuditEvent.objects.filter(action="usage.recorded").exists()


def test_a_refused_report_can_be_retried_with_its_key(signed, org_factory):
    # given: refused at 100 of 100
    organization, _ = org_factory()
    entitlements.consume(organization, "ai_requests", quantity=100)
    now = int(time.time())
    assert signed.post(usage_path(organization), report("later"), timestamp=now).status_code == 402

    # when: next month's allowance (counters are per month) frees room
    UsageCounter.objects.filter(organization=organization).delete()
    response = signed.post(usage_path(organization), report("later"), timestamp=now - 1)

    # then
    assert response.status_code == 200 and response.json()["used"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"feature": "members", "quantity": 1, "idempotency_key": "k"},
        {"feature": "rockets", "quantity": 1, "idempotency_key": "k"},
        {"feature": "ai_requests", "quantity": 0, "idempotency_key": "k"},
        {"feature": "ai_requests", "quantity": -5, "idempotency_key": "k"},
        {"feature": "ai_requests", "quantity": 1},
        {"feature": "ai_requests", "quantity": 1, "idempotency_key": ""},
        {"feature": "ai_requests", "quantity": 1, "idempotency_key": "k", "org_id": "x"},
    ],
)
def test_bad_reports_are_400(signed, org_factory, body):
    organization, _ = org_factory()

    response = signed.post(usage_path(organization), body)

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert not UsageRecord.objects.exists()


def test_usage_for_an_unknown_org_is_404(signed):
    response = signed.post(f"/internal/v1/orgs/{uuid.uuid4()}/usage", report("k"))

    assert response.status_code == 404 and code_of(response) == "ORG_NOT_FOUND"


def test_usage_is_audited_with_the_service_as_actor(signed, org_factory):
    # given
    organization, members = org_factory()

    # when
    signed.post(usage_path(organization), report("audited", 4))

    # then: stored, and shown as {type: service, id: <name>} in the org's audit log
    event = AuditEvent.objects.get(action="usage.recorded")
    assert event.organization_id == organization.id and event.actor_type == "service"
    owner = client_for(members["owner"].user, organization)
    listed = owner.get(f"/api/v1/orgs/{organization.id}/audit-logs", {"action": "usage.recorded"}).json()["data"]
    assert listed[0]["actor"] == {"type": "service", "id": SERVICE, "email": None}


# --- PostgreSQL: concurrent reports with one key ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_with_one_key_count_once(service_keys, plans, org_factory):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (concurrent transactions)")
    # given
    organization, _ = org_factory()
    now = int(time.time())

    # when: six deliveries of one report race (each its own signature, connection and transaction)
    responses = run_together(6, lambda i: SignedClient().post(usage_path(organization), report("race", 3), timestamp=now - i))

    # then
    assert [getattr(r, "status_code", r) for r in responses] == [200] * 6
    assert entitlements.used(organization, "ai_requests") == 3
    assert UsageRecord.objects.filter(idempotency_key="race").count() == 1
