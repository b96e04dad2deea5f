import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User, UserSession
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"


def register(client, **overrides):
    body = {"email": "grace@example.com", "password": DEFAULT_PASSWORD, "full_name": "Grace Hopper", **overrides}
    return client.post(REGISTER, body, format="json")


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


def test_setup_status_reflects_whether_any_user_exists(api_client):
    before = api_client.get("/api/v1/auth/setup-status").json()
    assert before == {"needs_setup": True, "has_users": False}
    UserFactory()
    assert api_client.get("/api/v1/auth/setup-status").json() == {"needs_setup": False, "has_users": True}


def test_register_creates_user_session_tokens_and_sends_verification(api_client, mailoutbox, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = register(api_client, email="  Grace@Example.COM ")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get()
    assert user.email == "grace@example.com"
    assert user.password.startswith("argon2")
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["email_verified"] is False
    assert body["organization"] is None
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    claims = AccessToken(body["access_token"])
    session = UserSession.objects.get(user=user)
    assert claims["sub"] == str(user.id)
    assert claims["sid"] == str(session.id)
    assert claims["mfa"] is False
    assert claims["org_id"] is None and claims["act"] is None
    assert claims["features"] == {}
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["grace@example.com"]
    assert "https://app.example.test/verify-email?token=" in message.body
    assert message.alternatives and "verify-email?token=" in message.alternatives[0][0]
    assert AuditEvent.objects.filter(action="user.registered", actor_id=user.id).count() == 1


def test_register_duplicate_email_is_conflict_case_insensitively(api_client):
    UserFactory(email="grace@example.com")
    response = register(api_client, email="GRACE@example.com")
    assert response.status_code == 409
    assert error_of(response)["code"] == "CONFLICT"
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "password, fragment",
    [
        ("short1!", "too short"),
        ("password123", "too common"),
        ("38472910563", "entirely numeric"),
        ("grace hopper x", "too similar"),
    ],
)
def test_register_weak_password_gives_field_errors(api_client, password, fragment):
    response = register(api_client, password=password)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert any(fragment in message for message in error["details"]["password"])
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": None}, "email"),
        ({"full_name": "x" * 151}, "full_name"),
        ({"password": ["a", "list"]}, "password"),
        ({"email": "a@" + "b" * 300 + ".com"}, "email"),
    ],
)
def test_register_bad_input_is_400_with_details(api_client, payload, field):
    response = register(api_client, **payload)
    assert response.status_code == 400
    assert field in error_of(response)["details"]


def test_register_missing_fields(api_client):
    response = api_client.post(REGISTER, {}, format="json")
    assert response.status_code == 400
    assert set(error_of(response)["details"]) >= {"email", "password", "full_name"}


def test_register_malformed_json(api_client):
    response = api_client.post(REGISTER, data='{"email": ', content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"


def test_login_json_returns_tokens_user_and_records_event(api_client, user):
    response = api_client.post(LOGIN, {"email": user.email.upper(), "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"access_token", "refresh_token", "token_type", "expires_in", "user", "organization"}
    assert body["user"]["email"] == user.email
    session = UserSession.objects.get(user=user)
    assert session.ip == "127.0.0.1"
    assert AccessToken(body["access_token"])["sid"] == str(session.id)
    assert AuditEvent.objects.filter(action="user.logged_in", actor_id=user.id).count() == 1


def test_login_form_encoded_for_swagger_authorize(api_client, user):
    response = api_client.post(
        LOGIN,
        data=f"grant_type=password&username={user.email}&password={DEFAULT_PASSWORD}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "bearer"


def test_login_error_is_identical_for_unknown_email_and_wrong_password(api_client, user):
    wrong_password = api_client.post(LOGIN, {"email": user.email, "password": "nope-nope-nope"}, format="json")
    unknown = api_client.post(LOGIN, {"email": "ghost@example.com", "password": "nope-nope-nope"}, format="json")
    assert wrong_password.status_code == unknown.status_code == 401
    a, b = error_of(wrong_password), error_of(unknown)
    assert a["code"] == b["code"] == "AUTHENTICATION_FAILED"
    assert a["message"] == b["message"]
    assert AuditEvent.objects.filter(action="user.login_failed", actor_id=user.id).count() == 1


def test_login_inactive_user_is_refused(api_client):
    user = UserFactory(is_active=False)
    response = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 401


def test_login_with_organization_id_needs_membership(api_client, user):
    response = api_client.post(
        LOGIN,
        {"email": user.email, "password": DEFAULT_PASSWORD, "organization_id": "7d3f1c8e-0000-4000-8000-000000000000"},
        format="json",
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "INVALID_ORG_CONTEXT"


def test_repeated_failures_lock_the_account_with_429(api_client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert api_client.post(LOGIN, {"email": user.email, "password": "wrong-wrong-1"}, format="json").status_code == 401
    third = api_client.post(LOGIN, {"email": user.email, "password": "wrong-wrong-1"}, format="json")
    assert third.status_code == 429
    assert error_of(third)["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(third["Retry-After"]) > 0
    # Even the right password is refused while locked out.
    locked = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert locked.status_code == 429
    assert not UserSession.objects.filter(user=user).exists()


def test_lockout_applies_per_ip_across_accounts(api_client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    victims = UserFactory.create_batch(3)
    statuses = [api_client.post(LOGIN, {"email": v.email, "password": "wrong-wrong-1"}, format="json").status_code for v in victims]
    assert statuses == [401, 401, 429]
    other = UserFactory()
    blocked = api_client.post(LOGIN, {"email": other.email, "password": DEFAULT_PASSWORD}, format="json")
    assert blocked.status_code == 429
    from rest_framework.test import APIClient

    elsewhere = APIClient(REMOTE_ADDR="10.9.8.7")
    allowed = elsewhere.post(LOGIN, {"email": other.email, "password": DEFAULT_PASSWORD}, format="json")
    assert allowed.status_code == 200


def test_lockout_expires_after_cooloff(api_client, user, settings):
    from datetime import timedelta

    from freezegun import freeze_time

    settings.AXES_FAILURE_LIMIT = 2
    with freeze_time("2026-01-01 10:00:00"):
        for _ in range(2):
            api_client.post(LOGIN, {"email": user.email, "password": "wrong-wrong-1"}, format="json")
        assert api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json").status_code == 429
    with freeze_time("2026-01-01 10:00:00") as frozen:
        frozen.tick(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
        response = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
        assert response.status_code == 200


def test_login_bad_input(api_client):
    assert api_client.post(LOGIN, {"password": "x"}, format="json").status_code == 400
    assert api_client.post(LOGIN, {"email": "a@b.c"}, format="json").status_code == 400
    oversize = api_client.post(LOGIN, {"email": "a@b.c", "password": "x" * 5000}, format="json")
    assert oversize.status_code == 400
    assert "password" in error_of(oversize)["details"]
    assert api_client.post(LOGIN, data="[1,2", content_type="application/json").status_code == 400
