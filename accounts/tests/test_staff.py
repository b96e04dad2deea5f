"""Staff impersonation: who may start it, what the token carries, how it is audited and ended."""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from freezegun import freeze_time
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import UserSession
from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from conftest import login_tokens
from core.actor import Actor, Principal

IMPERSONATE = "/api/v1/staff/impersonate"
STOP = "/api/v1/staff/impersonate/stop"
ME = "/api/v1/users/me"
REASON = "Support ticket #4521: billing page is blank"


def totp_now(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def error_code(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    """A staff member signed in with password + TOTP (access claim `mfa` true)."""
    device = TOTPDevice.objects.create(user=staff_user, name="default", confirmed=True)
    challenge = login_tokens(APIClient(), staff_user.email)
    response = APIClient().post("/api/v1/auth/mfa/verify", {"mfa_token": challenge["mfa_token"], "code": totp_now(device)}, format="json")
    assert response.status_code == 200, response.content
    client = bearer(response.json()["access_token"])
    client.user = staff_user
    return client


@pytest.fixture
def target(db):
    return UserFactory(full_name="Grace Hopper")


@pytest.fixture
def impersonation(staff_client, target) -> dict:
    response = staff_client.post(IMPERSONATE, {"user_id": str(target.id), "reason": REASON}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- who may impersonate ---------------------------------------------------------------------


def test_anonymous_is_refused(db, target):
    response = APIClient().post(IMPERSONATE, {"user_id": str(target.id), "reason": REASON}, format="json")

    assert response.status_code == 401


def test_non_staff_is_refused_before_any_lookup(auth_client, target):
    for user_id in (target.id, uuid.uuid4()):
        response = auth_client.post(IMPERSONATE, {"user_id": str(user_id), "reason": REASON}, format="json")

        # Same answer for a real and an unknown id: non-staff cannot probe accounts.
        assert response.status_code == 403
        assert error_code(response) == "INSUFFICIENT_PERMISSIONS"


def test_staff_without_an_mfa_session_is_refused(staff_user, target):
    client = bearer(login_tokens(APIClient(), staff_user.email)["access_token"])

    response = client.post(IMPERSONATE, {"user_id": str(target.id), "reason": REASON}, format="json")

    assert response.status_code == 403
    assert error_code(response) == "MFA_REQUIRED"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "bug"}])
def test_a_reason_is_required(staff_client, target, body):
    response = staff_client.post(IMPERSONATE, {"user_id": str(target.id), **body}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["error"]["details"]


def test_unknown_or_inactive_user_is_not_found(staff_client):
    inactive = UserFactory(is_active=False)
    for user_id in (uuid.uuid4(), inactive.id):
        response = staff_client.post(IMPERSONATE, {"user_id": str(user_id), "reason": REASON}, format="json")

        assert response.status_code == 404
        assert error_code(response) == "NOT_FOUND"


def test_staff_accounts_cannot_be_impersonated(staff_client):
    other_staff = UserFactory(is_staff=True)

    response = staff_client.post(IMPERSONATE, {"user_id": str(other_staff.id), "reason": REASON}, format="json")

    assert response.status_code == 403
    assert error_code(response) == "INSUFFICIENT_PERMISSIONS"


# --- the impersonation token ---------------------------------------------------------------------


def test_success_gives_a_short_access_token_naming_the_staff_member(impersonation, staff_user, target):
    # then: an access token only
    assert "refresh_token" not in impersonation
    assert impersonation["token_type"] == "bearer"
    assert 0 < impersonation["expires_in"] <= 1800
    assert impersonation["user"]["id"] == str(target.id)
    claims = AccessToken(impersonation["access_token"])
    assert claims["sub"] == str(target.id)
    assert claims["act"] == {"sub": str(staff_user.id), "email": staff_user.email}
    assert claims["mfa"] is False
    session = UserSession.objects.get(id=claims["sid"])
    assert session.impersonator_id == staff_user.id
    assert session.impersonation_reason == REASON
    assert session.expires_at <= timezone.now() + timedelta(minutes=30)


def test_the_token_acts_as_the_target(impersonation, target):
    response = bearer(impersonation["access_token"]).get(ME)

    assert response.status_code == 200
    assert response.json()["email"] == target.email


def test_the_token_dies_within_thirty_minutes(impersonation):
    with freeze_time(timezone.now() + timedelta(minutes=31)):
        response = bearer(impersonation["access_token"]).get(ME)

    assert response.status_code == 401
    assert error_code(response) == "TOKEN_EXPIRED"


def test_start_is_audited_with_the_reason(impersonation, staff_user, target):
    event = AuditEvent.objects.get(action="user.impersonation_started")

    assert event.actor_id == staff_user.id
    assert event.target_id == str(target.id)
    assert event.metadata["reason"] == REASON


def test_events_made_while_impersonating_record_the_impersonator(impersonation, staff_user, target):
    # when
    response = bearer(impersonation["access_token"]).patch(ME, {"full_name": "Rear Admiral Hopper"}, format="json")
    # then
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="user.updated")
    assert event.actor_id == target.id
    assert event.impersonator_id == staff_user.id


def test_an_impersonation_token_cannot_impersonate(impersonation):
    other = UserFactory()

    response = bearer(impersonation["access_token"]).post(IMPERSONATE, {"user_id": str(other.id), "reason": REASON}, format="json")

    assert response.status_code == 403


def test_mfa_settings_cannot_change_while_impersonating(impersonation):
    client = bearer(impersonation["access_token"])

    assert client.post("/api/v1/auth/mfa/totp/enroll").status_code == 403
    assert client.delete("/api/v1/auth/mfa/totp", {"code": "123456"}, format="json").status_code == 403
    assert not TOTPDevice.objects.filter(user_id=AccessToken(impersonation["access_token"])["sub"]).exists()


# --- stopping --------------------------------------------------------------------------------------


def test_stop_ends_the_session_and_kills_the_token(impersonation, staff_user, django_capture_on_commit_callbacks):
    client = bearer(impersonation["access_token"])
    assert client.get(ME).status_code == 200  # the session state is now cached as active

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(STOP)

    assert response.status_code == 204
    refused = client.get(ME)
    assert refused.status_code == 401
    assert error_code(refused) == "TOKEN_INVALID"
    stopped = AuditEvent.objects.get(action="user.impersonation_stopped")
    assert stopped.actor_id == staff_user.id
    assert AuditEvent.objects.get(action="session.revoked").impersonator_id == staff_user.id


def test_stop_with_a_normal_token_is_refused(auth_client):
    response = auth_client.post(STOP)

    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"


def test_the_staff_members_own_session_survives_stop(impersonation, staff_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bearer(impersonation["access_token"]).post(STOP)

    assert staff_client.get(ME).status_code == 200


def test_impersonation_token_cannot_change_password_or_delete_the_account(db):
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.sessions import session_create
    from accounts.staff import impersonation_start
    from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

    staff_user = UserFactory(is_staff=True)
    target = UserFactory()
    staff_pair = session_create(user=staff_user, actor=Actor.for_user(staff_user), mfa_verified=True)
    from rest_framework_simplejwt.tokens import AccessToken

    _, pair = impersonation_start(
        actor=Actor(principal=Principal.from_claims(staff_user, AccessToken(staff_pair.access_token).payload)), user_id=target.id, reason="support ticket 42"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    change = client.post(
        "/api/v1/auth/password/change",
        {"current_password": DEFAULT_PASSWORD, "new_password": "Br4nd-new-passphrase"},
        format="json",
    )
    assert change.status_code == 403
    delete = client.delete("/api/v1/users/me", {"password": DEFAULT_PASSWORD}, format="json")
    assert delete.status_code == 403
    assert User.objects.filter(id=target.id).exists()
