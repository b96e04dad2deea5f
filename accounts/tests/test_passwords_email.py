import re
from datetime import timedelta

import pytest
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import OneTimeToken, User, UserSession
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEvent
from conftest import login_tokens

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "An0ther-long-passphrase"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_from(message) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-]+)", message.body)
    assert match, message.body
    return match.group(1)


def error_of(response) -> dict:
    return response.json()["error"]


# --- change ---------------------------------------------------------------------------


def test_password_change_revokes_other_sessions_only(api_client, user):
    current = login_tokens(api_client, user.email)
    other = login_tokens(api_client, user.email)
    response = bearer(current["access_token"]).post(
        "/api/v1/auth/password/change",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 204, response.content
    assert bearer(current["access_token"]).get("/api/v1/users/me").status_code == 200
    assert bearer(other["access_token"]).get("/api/v1/users/me").status_code == 401
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(action="user.password_changed", actor_id=user.id).count() == 1
    assert login_tokens(api_client, user.email, NEW_PASSWORD)["access_token"]


def test_password_change_wrong_current_password(auth_client, user):
    response = auth_client.post(
        "/api/v1/auth/password/change",
        {"current_password": "wrong-wrong-wrong", "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 400
    assert "current_password" in error_of(response)["details"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_password_change_weak_new_password(auth_client, user):
    response = auth_client.post(
        "/api/v1/auth/password/change",
        {"current_password": DEFAULT_PASSWORD, "new_password": "12345678"},
        format="json",
    )
    assert response.status_code == 400
    assert "new_password" in error_of(response)["details"]


def test_password_change_needs_authentication(api_client):
    response = api_client.post("/api/v1/auth/password/change", {}, format="json")
    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTHENTICATION_FAILED"


# --- reset ----------------------------------------------------------------------------


def test_reset_request_is_202_for_unknown_email_and_sends_nothing(api_client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password/reset-request", {"email": "ghost@example.com"}, format="json")
    assert response.status_code == 202
    assert mailoutbox == []


def test_reset_flow_single_use_and_revokes_all_sessions(api_client, user, mailoutbox, django_capture_on_commit_callbacks):
    tokens = login_tokens(api_client, user.email)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password/reset-request", {"email": user.email.upper()}, format="json")
    assert response.status_code == 202
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert "https://app.example.test/reset-password?token=" in message.body
    assert "reset-password?token=" in message.alternatives[0][0]
    secret = token_from(message)
    # The secret is not stored, only its hash.
    assert not OneTimeToken.objects.filter(token_hash=secret).exists()

    done = api_client.post("/api/v1/auth/password/reset", {"token": secret, "new_password": NEW_PASSWORD}, format="json")
    assert done.status_code == 204, done.content
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert bearer(tokens["access_token"]).get("/api/v1/users/me").status_code == 401
    assert not UserSession.objects.filter(user=user, revoked_at__isnull=True).exists()

    again = api_client.post("/api/v1/auth/password/reset", {"token": secret, "new_password": "Yet-another-passphrase"}, format="json")
    assert again.status_code == 400
    assert "token" in error_of(again)["details"]


def test_reset_token_expires(api_client, user, mailoutbox, django_capture_on_commit_callbacks):
    with freeze_time("2026-03-01 12:00:00") as frozen:
        with django_capture_on_commit_callbacks(execute=True):
            api_client.post("/api/v1/auth/password/reset-request", {"email": user.email}, format="json")
        secret = token_from(mailoutbox[0])
        frozen.tick(timedelta(minutes=61))
        response = api_client.post("/api/v1/auth/password/reset", {"token": secret, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert "expired" in error_of(response)["message"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_reset_with_weak_password_keeps_token_usable(api_client, user, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/api/v1/auth/password/reset-request", {"email": user.email}, format="json")
    secret = token_from(mailoutbox[0])
    weak = api_client.post("/api/v1/auth/password/reset", {"token": secret, "new_password": "password"}, format="json")
    assert weak.status_code == 400
    assert "new_password" in error_of(weak)["details"]
    # Nothing half-written: the request rolled back, the token still works.
    ok = api_client.post("/api/v1/auth/password/reset", {"token": secret, "new_password": NEW_PASSWORD}, format="json")
    assert ok.status_code == 204


@pytest.mark.parametrize("body", [{}, {"token": "nope", "new_password": NEW_PASSWORD}, {"token": "x" * 500, "new_password": "x"}])
def test_reset_bad_input(api_client, body):
    response = api_client.post("/api/v1/auth/password/reset", body, format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"


# --- email verification ------------------------------------------------------------------


def _registered(api_client, mailoutbox, capture) -> tuple[dict, str]:
    with capture(execute=True):
        response = api_client.post(
            "/api/v1/auth/register",
            {"email": "new@example.com", "password": DEFAULT_PASSWORD, "full_name": "New Person"},
            format="json",
        )
    return response.json(), token_from(mailoutbox[-1])


def test_verify_email_by_post(api_client, mailoutbox, django_capture_on_commit_callbacks):
    body, secret = _registered(api_client, mailoutbox, django_capture_on_commit_callbacks)
    response = api_client.post("/api/v1/auth/email/verify", {"token": secret}, format="json")
    assert response.status_code == 200
    assert response.json()["email_verified"] is True
    assert User.objects.get(email="new@example.com").email_verified
    me = bearer(body["access_token"]).get("/api/v1/users/me").json()
    assert me["email_verified"] is True
    used = api_client.post("/api/v1/auth/email/verify", {"token": secret}, format="json")
    assert used.status_code == 400 and "already been used" in error_of(used)["message"]


def test_verify_email_by_get_link(api_client, mailoutbox, django_capture_on_commit_callbacks):
    _, secret = _registered(api_client, mailoutbox, django_capture_on_commit_callbacks)
    response = api_client.get(f"/api/v1/auth/email/verify?token={secret}")
    assert response.status_code == 200
    assert api_client.get("/api/v1/auth/email/verify").status_code == 400


def test_verify_email_token_expires(api_client, mailoutbox, django_capture_on_commit_callbacks):
    with freeze_time("2026-03-01 12:00:00") as frozen:
        _, secret = _registered(api_client, mailoutbox, django_capture_on_commit_callbacks)
        frozen.tick(timedelta(hours=49))
        response = api_client.post("/api/v1/auth/email/verify", {"token": secret}, format="json")
    assert response.status_code == 400
    assert not User.objects.get(email="new@example.com").email_verified


def test_resend_sends_a_new_link(auth_client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post("/api/v1/auth/email/resend")
    assert response.status_code == 202
    assert len(mailoutbox) == 1
    secret = token_from(mailoutbox[0])
    assert APIClient().post("/api/v1/auth/email/verify", {"token": secret}, format="json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        already = auth_client.post("/api/v1/auth/email/resend")
    assert already.status_code == 200
    assert len(mailoutbox) == 1


def test_verification_token_for_an_old_email_is_refused(api_client, mailoutbox, django_capture_on_commit_callbacks):
    _, secret = _registered(api_client, mailoutbox, django_capture_on_commit_callbacks)
    User.objects.filter(email="new@example.com").update(email="changed@example.com")
    response = api_client.post("/api/v1/auth/email/verify", {"token": secret}, format="json")
    assert response.status_code == 400
    assert not User.objects.get(email="changed@example.com").email_verified


def test_prune_task_removes_long_expired_tokens(user):
    from accounts.services import one_time_token_issue
    from accounts.tasks import prune_expired_credentials

    with freeze_time("2026-01-01"):
        one_time_token_issue(user=user, purpose=OneTimeToken.Purpose.EMAIL_VERIFY, lifetime=timedelta(hours=1))
    fresh = one_time_token_issue(user=user, purpose=OneTimeToken.Purpose.EMAIL_VERIFY, lifetime=timedelta(hours=1))
    assert fresh
    result = prune_expired_credentials()
    assert result["tokens"] == 1
    assert OneTimeToken.objects.count() == 1


def test_other_users_are_untouched_by_reset(api_client, mailoutbox, django_capture_on_commit_callbacks):
    alice, bob = UserFactory(), UserFactory()
    bob_tokens = login_tokens(api_client, bob.email)
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/api/v1/auth/password/reset-request", {"email": alice.email}, format="json")
    secret = token_from(mailoutbox[0])
    api_client.post("/api/v1/auth/password/reset", {"token": secret, "new_password": NEW_PASSWORD}, format="json")
    assert bearer(bob_tokens["access_token"]).get("/api/v1/users/me").status_code == 200
    bob.refresh_from_db()
    assert bob.check_password(DEFAULT_PASSWORD)
