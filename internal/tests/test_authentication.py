"""Only a request a known service signed, once, recently, for this method, path and body gets in."""

import time

import pytest
from django.core.cache import cache

from conftest import client_for
from core import authz
from core.actor import Actor
from internal.authentication import signature, signing_string
from internal.tests.conftest import SECRET, SERVICE, code_of
from permissions import apikeys

PLAN_PATH = "/internal/v1/plans/free/features"


def test_a_signed_request_gets_in(signed):
    # when
    response = signed.get(PLAN_PATH)

    # then
    assert response.status_code == 200, response.content
    assert response.json()["code"] == "free"


def test_the_signing_string_is_the_documented_one():
    # given: sha256 of the empty body
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    # when / then
    assert signing_string(timestamp=1700000000, method="get", path="/internal/v1/x", body=b"") == f"1700000000.GET./internal/v1/x.{empty}".encode()


def test_a_wrong_secret_is_refused(signed):
    response = signed.get(PLAN_PATH, secret="not-the-secret")

    assert response.status_code == 401
    assert code_of(response) == "AUTHENTICATION_FAILED"


def test_an_unknown_service_is_refused(signed):
    response = signed.get(PLAN_PATH, service="stranger", secret=SECRET)

    assert response.status_code == 401 and code_of(response) == "AUTHENTICATION_FAILED"


def test_another_services_secret_does_not_sign_for_this_one(signed, service_keys):
    response = signed.get(PLAN_PATH, service=SERVICE, secret=service_keys["billing-worker"])

    assert response.status_code == 401


def test_a_secret_with_equals_signs_works(signed, service_keys):
    response = signed.get(PLAN_PATH, service="billing-worker", secret=service_keys["billing-worker"])

    assert response.status_code == 200


@pytest.mark.parametrize("offset", [-301, 301, -10_000])
def test_a_stale_or_future_timestamp_is_refused(signed, offset):
    # given: a correct signature, but at a time outside the allowed skew
    timestamp = int(time.time()) + offset

    # when
    response = signed.get(PLAN_PATH, timestamp=timestamp)

    # then
    assert response.status_code == 401 and code_of(response) == "AUTHENTICATION_FAILED"
    assert "timestamp" in response.json()["error"]["message"]


def test_a_timestamp_within_the_skew_is_accepted(signed):
    response = signed.get(PLAN_PATH, timestamp=int(time.time()) - 250)

    assert response.status_code == 200


def test_a_replayed_signature_is_refused(signed):
    # given: one request, signed once, sent twice
    timestamp = int(time.time())
    first = signed.get(PLAN_PATH, timestamp=timestamp)

    # when
    replay = signed.get(PLAN_PATH, timestamp=timestamp)

    # then
    assert first.status_code == 200
    assert replay.status_code == 401 and code_of(replay) == "AUTHENTICATION_FAILED"
    assert "replay" in replay.json()["error"]["message"]


def test_a_replayed_usage_report_is_not_counted_twice(signed, org_factory):
    # given
    organization, _ = org_factory()
    path = f"/internal/v1/orgs/{organization.id}/usage"
    body = {"feature": "ai_requests", "quantity": 1, "idempotency_key": "k-1"}
    timestamp = int(time.time())
    assert signed.post(path, body, timestamp=timestamp).status_code == 200

    # when
    replay = signed.post(path, body, timestamp=timestamp)

    # then
    assert replay.status_code == 401


def test_a_tampered_body_is_refused(signed, org_factory):
    # given: a signature over quantity 1, a body saying 90
    organization, _ = org_factory()
    path = f"/internal/v1/orgs/{organization.id}/usage"
    signed_body = b'{"feature": "ai_requests", "quantity": 1, "idempotency_key": "k"}'

    # when
    response = signed.post(path, {"feature": "ai_requests", "quantity": 90, "idempotency_key": "k"}, sign_body=signed_body)

    # then
    assert response.status_code == 401 and code_of(response) == "AUTHENTICATION_FAILED"


def test_a_signature_for_another_path_is_refused(signed):
    response = signed.get(PLAN_PATH, sign_path="/internal/v1/plans/pro/features")

    assert response.status_code == 401


def test_a_signature_for_another_method_is_refused(signed):
    # given: signed as a GET, sent as a POST
    now = int(time.time())
    raw = signature(secret=SECRET, timestamp=now, method="GET", path="/internal/v1/validate-token", body=b'{"token": "x"}')

    # when
    response = signed.client.post(
        "/internal/v1/validate-token",
        b'{"token": "x"}',
        content_type="application/json",
        HTTP_X_SERVICE_NAME=SERVICE,
        HTTP_X_SERVICE_SIGNATURE=f"{now}:{raw}",
    )

    # then
    assert response.status_code == 401


def test_the_query_string_is_not_signed_and_the_trailing_slash_is_as_sent(signed):
    # when: the path as sent (slash included) is signed, without the query string
    with_query = signed.get(PLAN_PATH + "?x=1")
    with_slash = signed.get(PLAN_PATH + "/", sign_path=PLAN_PATH + "/")
    slash_signed_without = signed.get(PLAN_PATH + "/", sign_path=PLAN_PATH, timestamp=int(time.time()) - 5)

    # then
    assert with_query.status_code == 200
    assert with_slash.status_code == 200
    assert slash_signed_without.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_SERVICE_NAME": SERVICE},
        {"HTTP_X_SERVICE_SIGNATURE": f"{int(time.time())}:{'0' * 64}"},
        {"HTTP_X_SERVICE_NAME": SERVICE, "HTTP_X_SERVICE_SIGNATURE": "garbage"},
        {"HTTP_X_SERVICE_NAME": SERVICE, "HTTP_X_SERVICE_SIGNATURE": f"{int(time.time())}:zz{'0' * 62}"},
        {"HTTP_X_SERVICE_NAME": "bad name!", "HTTP_X_SERVICE_SIGNATURE": f"{int(time.time())}:{'0' * 64}"},
    ],
)
def test_missing_or_malformed_headers_are_refused(signed, headers):
    response = signed.client.get(PLAN_PATH, **headers)

    assert response.status_code == 401
    assert code_of(response) == "AUTHENTICATION_FAILED"
    assert response["WWW-Authenticate"]


def test_no_service_is_accepted_when_none_is_configured(signed, settings):
    settings.INTERNAL_SERVICE_KEYS = {}

    response = signed.get(PLAN_PATH)

    assert response.status_code == 401


def test_a_user_token_is_refused(db, org_factory):
    # given: a signed-in owner
    organization, members = org_factory()
    client = client_for(members["owner"].user, organization)

    # when
    response = client.get(PLAN_PATH)

    # then
    assert response.status_code == 401 and code_of(response) == "AUTHENTICATION_FAILED"


def test_an_api_key_is_refused(db, org_factory):
    # given: an org API key with every scope
    organization, members = org_factory()
    _, secret = apikeys.api_key_create(organization=organization, name="k", grantable=authz.codes(), created_by=members["owner"].user, actor=Actor.system())
    from rest_framework.test import APIClient

    client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    # when
    response = client.get(f"/internal/v1/orgs/{organization.id}")

    # then
    assert response.status_code == 401


def test_a_user_token_next_to_a_bad_signature_does_not_help(signed, org_factory):
    organization, members = org_factory()
    token = client_for(members["owner"].user, organization).tokens["access_token"]

    response = signed.get(PLAN_PATH, secret="wrong", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401


def test_the_replay_cache_being_down_fails_closed(signed, monkeypatch):
    # given: the cache swallows its errors as django-redis does (add() answers None)
    monkeypatch.setattr(cache, "add", lambda *args, **kwargs: None)

    # when
    response = signed.get(PLAN_PATH)

    # then
    assert response.status_code == 503 and code_of(response) == "SERVICE_UNAVAILABLE"


def test_the_replay_cache_raising_fails_closed(signed, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(cache, "add", broken)

    response = signed.get(PLAN_PATH)

    assert response.status_code == 503


def test_internal_routes_are_throttled_per_service(signed, settings):
    # given: two requests a minute for each service
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "internal": "2/min"}}
    now = int(time.time())

    # when
    answers = [signed.get(PLAN_PATH, timestamp=now - i).status_code for i in range(3)]
    other = signed.get(PLAN_PATH, service="billing-worker", secret=settings.INTERNAL_SERVICE_KEYS["billing-worker"])

    # then
    assert answers == [200, 200, 429]
    assert other.status_code == 200
