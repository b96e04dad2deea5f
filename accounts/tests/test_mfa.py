"""MFA: TOTP enrollment, hashed backup codes, the login challenge and turning MFA off."""

import io
import re
import time
from base64 import b32decode

import pytest
from django.core.management import call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from freezegun import freeze_time
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import BackupCode, BackupCodeDevice, OneTimeToken, UserSession
from accounts.tests.factories import DEFAULT_PASSWORD
from audit.models import AuditEvent
from conftest import login_tokens

STATUS = "/api/v1/auth/mfa"
ENROLL = "/api/v1/auth/mfa/totp/enroll"
CONFIRM = "/api/v1/auth/mfa/totp/confirm"
REGENERATE = "/api/v1/auth/mfa/backup-codes/regenerate"
DISABLE = "/api/v1/auth/mfa/totp"
LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/mfa/verify"
WRONG_BACKUP = "ZZZZZ-ZZZZZ"


@pytest.fixture(autouse=True)
def frozen():
    """Freeze time (autouse: before any token is signed) so TOTP steps and expiries are exact."""
    with freeze_time("2030-03-01 12:00:05") as frozen_time:
        yield frozen_time


def totp_now(device: TOTPDevice) -> str:
    """The code an authenticator app shows right now."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def next_code(frozen, device: TOTPDevice) -> str:
    """Move to the next 30 s step first: django-otp accepts one code per time step (replay guard)."""
    frozen.tick(30)
    return totp_now(device)


def enroll(client: APIClient) -> TOTPDevice:
    response = client.post(ENROLL)
    assert response.status_code == 200, response.content
    return TOTPDevice.objects.get(user=client.user, confirmed=False)


def enable_mfa(client: APIClient, frozen) -> list[str]:
    """Enroll and confirm TOTP through the API; return the backup codes."""
    device = enroll(client)
    response = client.post(CONFIRM, {"code": next_code(frozen, device)})
    assert response.status_code == 200, response.content
    return response.json()["backup_codes"]


def device_of(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=True)


def start_login(email: str) -> str:
    """Sign in with a password while MFA is on; return the mfa_token."""
    body = login_tokens(APIClient(), email)
    assert body["status"] == "mfa_required"
    return body["mfa_token"]


def verify(mfa_token: str, code: str):
    return APIClient().post(VERIFY, {"mfa_token": mfa_token, "code": code}, format="json")


def error_code(response) -> str:
    return response.json()["error"]["code"]


# --- status and enrollment -------------------------------------------------------------------


def test_status_before_and_after_enabling(auth_client, frozen):
    # given
    before = auth_client.get(STATUS)
    assert before.status_code == 200
    assert before.json() == {"enabled": False, "methods": [], "backup_codes_remaining": 0}
    # when
    enable_mfa(auth_client, frozen)
    # then
    after = auth_client.get(STATUS).json()
    assert after["enabled"] is True and after["backup_codes_remaining"] == 10
    assert [method["type"] for method in after["methods"]] == ["totp", "backup_codes"]  # shape: test_mfa_methods.py
    assert auth_client.get("/api/v1/users/me").json()["mfa_enabled"] is True


def test_mfa_endpoints_need_authentication(db):
    client = APIClient()
    assert client.get(STATUS).status_code == 401
    assert client.post(ENROLL).status_code == 401
    assert client.post(CONFIRM, {"code": "123456"}, format="json").status_code == 401
    assert client.delete(DISABLE, {"code": "123456"}, format="json").status_code == 401


def test_enroll_returns_secret_url_and_svg(auth_client):
    response = auth_client.post(ENROLL)

    assert response.status_code == 200
    body = response.json()
    device = TOTPDevice.objects.get(user=auth_client.user)
    padding = "=" * (-len(body["secret"]) % 8)
    assert b32decode(body["secret"] + padding) == device.bin_key
    assert body["otpauth_url"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_url"]
    assert "<svg" in body["qr_svg"]


def test_enrollment_is_inactive_until_confirmed(auth_client):
    # given
    auth_client.post(ENROLL)
    # then: status off, and the password alone still signs in
    assert auth_client.get(STATUS).json()["enabled"] is False
    body = login_tokens(APIClient(), auth_client.user.email)
    assert "access_token" in body and "refresh_token" in body
    assert "mfa_token" not in body


def test_enroll_again_replaces_the_pending_device(auth_client):
    auth_client.post(ENROLL)
    first = TOTPDevice.objects.get(user=auth_client.user)

    auth_client.post(ENROLL)

    devices = TOTPDevice.objects.filter(user=auth_client.user)
    assert devices.count() == 1
    assert devices.get().key != first.key


def test_enroll_when_enabled_is_a_conflict(auth_client, frozen):
    enable_mfa(auth_client, frozen)

    response = auth_client.post(ENROLL)

    assert response.status_code == 409
    assert error_code(response) == "CONFLICT"


def test_confirm_with_a_wrong_code_is_refused(auth_client, frozen):
    # given
    device = enroll(auth_client)
    right = next_code(frozen, device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    # when
    response = auth_client.post(CONFIRM, {"code": wrong})
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "code" in error["details"]
    assert auth_client.get(STATUS).json()["enabled"] is False
    # The failure is counted durably (django-otp back-off), not rolled back with the 400.
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_confirm_without_enrollment_is_refused(auth_client):
    response = auth_client.post(CONFIRM, {"code": "123456"})

    assert response.status_code == 400
    assert "code" in response.json()["error"]["details"]


def test_confirm_returns_ten_backup_codes_stored_only_hashed(auth_client, frozen):
    # when
    codes = enable_mfa(auth_client, frozen)
    # then
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}", code) for code in codes)
    assert BackupCode.objects.filter(device__user=auth_client.user).count() == 10
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    database = dump.getvalue()
    for code in codes:
        assert code not in database
        assert code.replace("-", "") not in database


def test_confirm_records_mfa_enabled(auth_client, frozen):
    enable_mfa(auth_client, frozen)

    event = AuditEvent.objects.get(action="mfa.enabled")
    assert event.actor_id == auth_client.user.id
    assert event.target_id == str(auth_client.user.id)


# --- login with MFA ------------------------------------------------------------------------------


def test_login_with_mfa_on_returns_a_challenge_and_no_tokens(auth_client, frozen):
    enable_mfa(auth_client, frozen)
    sessions_before = UserSession.objects.filter(user=auth_client.user).count()

    response = APIClient().post(LOGIN, {"email": auth_client.user.email, "password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "mfa_required"
    assert body["mfa_token"]
    assert "access_token" not in body and "refresh_token" not in body
    assert UserSession.objects.filter(user=auth_client.user).count() == sessions_before


def test_verify_with_totp_gives_tokens_with_the_mfa_claim(auth_client, frozen):
    # given
    enable_mfa(auth_client, frozen)
    mfa_token = start_login(auth_client.user.email)
    # when
    response = verify(mfa_token, next_code(frozen, device_of(auth_client.user)))
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    claims = AccessToken(body["access_token"])
    assert claims["mfa"] is True
    assert claims["sub"] == str(auth_client.user.id)
    assert UserSession.objects.get(id=claims["sid"]).mfa_verified is True
    assert body["user"]["email"] == auth_client.user.email
    # and the session keeps its MFA state across a refresh
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert AccessToken(refreshed.json()["access_token"])["mfa"] is True


def test_a_totp_code_may_be_typed_with_a_space(auth_client, frozen):
    enable_mfa(auth_client, frozen)
    code = next_code(frozen, device_of(auth_client.user))

    response = verify(start_login(auth_client.user.email), f"{code[:3]} {code[3:]}")

    assert response.status_code == 200


def test_a_totp_code_is_accepted_once(auth_client, frozen):
    # given: a code already used to sign in
    enable_mfa(auth_client, frozen)
    code = next_code(frozen, device_of(auth_client.user))
    assert verify(start_login(auth_client.user.email), code).status_code == 200
    # when: the same code is replayed on a new challenge, within the same time step
    response = verify(start_login(auth_client.user.email), code)
    # then
    assert response.status_code == 400


def test_verify_with_a_backup_code_spends_it(auth_client, frozen):
    # given
    codes = enable_mfa(auth_client, frozen)
    # when
    response = verify(start_login(auth_client.user.email), codes[0])
    # then
    assert response.status_code == 200, response.content
    assert AccessToken(response.json()["access_token"])["mfa"] is True
    assert auth_client.get(STATUS).json()["backup_codes_remaining"] == 9
    assert AuditEvent.objects.filter(action="mfa.backup_code_used", actor_id=auth_client.user.id).count() == 1
    again = verify(start_login(auth_client.user.email), codes[0])
    assert again.status_code == 400
    assert auth_client.get(STATUS).json()["backup_codes_remaining"] == 9


def test_backup_codes_are_accepted_without_dash_and_in_lower_case(auth_client, frozen):
    codes = enable_mfa(auth_client, frozen)

    response = verify(start_login(auth_client.user.email), codes[1].replace("-", "").lower())

    assert response.status_code == 200


def test_wrong_codes_are_refused_and_five_kill_the_mfa_token(auth_client, frozen):
    # given
    enable_mfa(auth_client, frozen)
    mfa_token = start_login(auth_client.user.email)
    # when: five wrong codes
    for _ in range(5):
        wrong = verify(mfa_token, WRONG_BACKUP)
        assert wrong.status_code == 400
        assert "code" in wrong.json()["error"]["details"]
    # then: even the right code no longer opens a session
    response = verify(mfa_token, next_code(frozen, device_of(auth_client.user)))
    assert response.status_code == 401
    assert error_code(response) == "TOKEN_INVALID"
    assert OneTimeToken.objects.get(purpose=OneTimeToken.Purpose.MFA_CHALLENGE).attempts == 5
    assert AuditEvent.objects.filter(action="mfa.verification_failed").count() == 5


def test_a_right_code_after_four_wrong_ones_still_works(auth_client, frozen):
    enable_mfa(auth_client, frozen)
    mfa_token = start_login(auth_client.user.email)
    for _ in range(4):
        assert verify(mfa_token, WRONG_BACKUP).status_code == 400

    response = verify(mfa_token, next_code(frozen, device_of(auth_client.user)))

    assert response.status_code == 200


def test_wrong_totp_codes_back_off_with_429(auth_client, frozen):
    # given: one wrong TOTP code
    enable_mfa(auth_client, frozen)
    device = device_of(auth_client.user)
    mfa_token = start_login(auth_client.user.email)
    right = next_code(frozen, device)
    assert verify(mfa_token, f"{(int(right) + 1) % 1_000_000:06d}").status_code == 400
    # when: the right one comes at once
    response = verify(mfa_token, right)
    # then: django-otp's back-off answers 429, without spending a challenge attempt
    assert response.status_code == 429
    assert error_code(response) == "RATE_LIMIT_EXCEEDED"
    assert int(response["Retry-After"]) >= 1
    assert OneTimeToken.objects.get(purpose=OneTimeToken.Purpose.MFA_CHALLENGE).attempts == 1
    frozen.tick(2)
    assert verify(mfa_token, totp_now(device)).status_code == 200


def test_an_mfa_token_is_single_use(auth_client, frozen):
    enable_mfa(auth_client, frozen)
    mfa_token = start_login(auth_client.user.email)
    assert verify(mfa_token, next_code(frozen, device_of(auth_client.user))).status_code == 200

    response = verify(mfa_token, next_code(frozen, device_of(auth_client.user)))

    assert response.status_code == 401
    assert error_code(response) == "TOKEN_INVALID"


def test_an_mfa_token_lives_five_minutes(auth_client, frozen):
    # given
    enable_mfa(auth_client, frozen)
    fresh = start_login(auth_client.user.email)
    stale = start_login(auth_client.user.email)
    # when: 4:59 later, then 5:01 later
    frozen.tick(299)
    assert verify(fresh, totp_now(device_of(auth_client.user))).status_code == 200
    frozen.tick(2)
    response = verify(stale, totp_now(device_of(auth_client.user)))
    # then
    assert response.status_code == 401
    assert error_code(response) == "TOKEN_INVALID"


def test_an_unknown_mfa_token_is_refused(db):
    response = verify("not-a-token", "123456")

    assert response.status_code == 401
    assert error_code(response) == "TOKEN_INVALID"


# --- regenerate and disable ----------------------------------------------------------------------


def test_regenerate_replaces_every_backup_code(auth_client, frozen):
    # given
    old = enable_mfa(auth_client, frozen)
    # when
    response = auth_client.post(REGENERATE, {"code": next_code(frozen, device_of(auth_client.user))})
    # then
    assert response.status_code == 200, response.content
    new = response.json()["backup_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert verify(start_login(auth_client.user.email), old[0]).status_code == 400
    assert verify(start_login(auth_client.user.email), new[0]).status_code == 200
    assert AuditEvent.objects.filter(action="mfa.backup_codes_regenerated").count() == 1


def test_regenerate_needs_a_valid_totp_code(auth_client, frozen):
    codes = enable_mfa(auth_client, frozen)
    right = next_code(frozen, device_of(auth_client.user))

    assert auth_client.post(REGENERATE, {"code": f"{(int(right) + 1) % 1_000_000:06d}"}).status_code == 400
    assert auth_client.post(REGENERATE, {"code": codes[0]}).status_code == 400
    assert auth_client.get(STATUS).json()["backup_codes_remaining"] == 10


def test_regenerate_without_mfa_is_refused(auth_client):
    response = auth_client.post(REGENERATE, {"code": "123456"})

    assert response.status_code == 400


def test_disable_with_totp_turns_mfa_off(auth_client, frozen):
    # given
    enable_mfa(auth_client, frozen)
    # when
    response = auth_client.delete(DISABLE, {"code": next_code(frozen, device_of(auth_client.user))})
    # then
    assert response.status_code == 204
    assert auth_client.get(STATUS).json() == {"enabled": False, "methods": [], "backup_codes_remaining": 0}
    assert not TOTPDevice.objects.filter(user=auth_client.user).exists()
    assert not BackupCodeDevice.objects.filter(user=auth_client.user).exists()
    body = login_tokens(APIClient(), auth_client.user.email)
    assert "access_token" in body
    assert AccessToken(body["access_token"])["mfa"] is False
    event = AuditEvent.objects.get(action="mfa.disabled")
    assert event.actor_id == auth_client.user.id


def test_disable_with_a_backup_code(auth_client, frozen):
    codes = enable_mfa(auth_client, frozen)

    response = auth_client.delete(DISABLE, {"code": codes[3]})

    assert response.status_code == 204
    assert auth_client.get(STATUS).json()["enabled"] is False


def test_disable_with_a_wrong_code_keeps_mfa_on(auth_client, frozen):
    enable_mfa(auth_client, frozen)

    response = auth_client.delete(DISABLE, {"code": WRONG_BACKUP})

    assert response.status_code == 400
    assert "code" in response.json()["error"]["details"]
    assert auth_client.get(STATUS).json()["enabled"] is True
    assert not AuditEvent.objects.filter(action="mfa.disabled").exists()


def test_disable_without_mfa_is_refused(auth_client):
    response = auth_client.delete(DISABLE, {"code": "123456"})

    assert response.status_code == 400
