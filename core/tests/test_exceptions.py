"""The error envelope: every failure the API can produce answers in one shape."""

import base64
import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from core.errors import ErrorCode
from core.tests.urls import SECRET_TEXT


def assert_envelope(response, status: int, code: str) -> dict:
    """Check status, JSON body in the envelope, and request_id matching the header; return the error."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert error["request_id"] == response["X-Request-ID"]
    return error


def test_unknown_api_url_is_404_envelope(api_client, db):
    response = api_client.get("/api/v1/no-such-thing")

    assert_envelope(response, 404, ErrorCode.NOT_FOUND)


def test_unknown_url_outside_api_is_404_envelope(api_client, db):
    response = api_client.get("/definitely/not/here")

    assert_envelope(response, 404, ErrorCode.NOT_FOUND)


def test_wrong_method_is_405(api_client, db):
    response = api_client.delete("/api/v1/auth/setup-status")

    assert_envelope(response, 405, ErrorCode.METHOD_NOT_ALLOWED)
    assert "GET" in response["Allow"]


def test_malformed_json_is_400_validation_error(api_client, db):
    response = api_client.post("/api/v1/auth/register", data='{"email": ', content_type="application/json")

    assert_envelope(response, 400, ErrorCode.VALIDATION_ERROR)


def test_wrong_content_type_is_415(api_client, db):
    response = api_client.post("/api/v1/auth/register", data="email=a@b.c", content_type="text/plain")

    assert_envelope(response, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)


@pytest.mark.parametrize(
    "header",
    [
        None,  # no credentials at all
        "Bearer",  # scheme without a token
        "Bearer two parts",  # spaces inside the token
        "Basic dXNlcjpwYXNz",  # a scheme the API does not take
        "garbage",
    ],
)
def test_missing_or_garbled_authorization_is_401_authentication_failed(api_client, db, header):
    if header is not None:
        api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get("/api/v1/users/me")

    assert_envelope(response, 401, ErrorCode.AUTHENTICATION_FAILED)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_access_token_is_401_token_expired(api_client, user, make_session):
    # given a real token re-signed with an expiry an hour ago
    token = AccessToken(make_session(user).access_token)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api_client.get("/api/v1/users/me")

    assert_envelope(response, 401, ErrorCode.TOKEN_EXPIRED)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_tampered_token_is_401_token_invalid(api_client, user, make_session, django_user_model):
    # given a valid token whose payload is changed but whose signature is kept
    other = django_user_model.objects.create_user(email="other@example.com", password="S3cure-passphrase!")
    header, payload, signature = make_session(user).access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(other.id)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{_b64(json.dumps(claims).encode())}.{signature}")

    response = api_client.get("/api/v1/users/me")

    assert_envelope(response, 401, ErrorCode.TOKEN_INVALID)


def test_random_bearer_token_is_401_token_invalid(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    response = api_client.get("/api/v1/users/me")

    assert_envelope(response, 401, ErrorCode.TOKEN_INVALID)


def test_field_validation_errors_list_every_field(api_client, db):
    response = api_client.post("/api/v1/auth/register", {"email": "not-an-email"}, format="json")

    error = assert_envelope(response, 400, ErrorCode.VALIDATION_ERROR)
    assert set(error["details"]) == {"email", "password", "full_name"}
    assert all(isinstance(messages, list) and messages for messages in error["details"].values())
    assert all(isinstance(message, str) for messages in error["details"].values() for message in messages)


@pytest.mark.urls("core.tests.urls")
def test_unhandled_error_in_drf_view_is_500_without_internals(api_client, db, caplog):
    with caplog.at_level(logging.ERROR, logger="core.errors"):
        response = api_client.get("/api/v1/test/drf-boom", HTTP_X_REQUEST_ID="boom-1")

    error = assert_envelope(response, 500, ErrorCode.INTERNAL_ERROR)
    assert error["request_id"] == "boom-1"
    text = response.content.decode()
    assert SECRET_TEXT not in text
    assert "Traceback" not in text and "RuntimeError" not in text
    logged = [record for record in caplog.records if record.name == "core.errors"]
    assert logged and logged[0].exc_info is not None
    assert SECRET_TEXT in caplog.text  # the operator sees what the client does not


@pytest.mark.urls("core.tests.urls")
def test_unhandled_error_outside_drf_uses_the_django_handler500(db):
    # given a client that answers like the server does instead of re-raising
    client = Client(raise_request_exception=False)

    response = client.get("/test/django-boom", HTTP_X_REQUEST_ID="boom-2")

    error = assert_envelope(response, 500, ErrorCode.INTERNAL_ERROR)
    assert error["request_id"] == "boom-2"
    assert SECRET_TEXT not in response.content.decode()


def test_throttled_envelope_has_retry_after(api_client, db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/min"},
    }
    api_client.get("/api/v1/auth/setup-status")

    response = api_client.get("/api/v1/auth/setup-status")

    error = assert_envelope(response, 429, ErrorCode.RATE_LIMIT_EXCEEDED)
    assert int(response["Retry-After"]) >= 1
    assert error["details"]["retry_after"] == int(response["Retry-After"])


def test_disallowed_host_is_400_envelope(api_client, db):
    response = api_client.get("/api/v1/auth/setup-status", HTTP_HOST="evil.example")

    assert_envelope(response, 400, ErrorCode.VALIDATION_ERROR)
