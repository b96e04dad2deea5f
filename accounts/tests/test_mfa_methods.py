"""`GET auth/mfa` methods and `DELETE auth/mfa/{method_id}`: list and remove one second factor."""

import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from freezegun import freeze_time
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import BackupCode, BackupCodeDevice
from accounts.sessions import session_create
from accounts.staff import impersonation_start
from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from core.actor import Actor, Principal

STATUS = "/api/v1/auth/mfa"
ENROLL = "/api/v1/auth/mfa/totp/enroll"
CONFIRM = "/api/v1/auth/mfa/totp/confirm"
DISABLE = "/api/v1/auth/mfa/totp"
VERIFY = "/api/v1/auth/mfa/verify"
LOGIN = "/api/v1/auth/login"


@pytest.fixture(autouse=True)
def frozen():
    with freeze_time("2030-03-01 12:00:05") as frozen_time:
        yield frozen_time


def next_code(frozen, device: TOTPDevice) -> str:
    """The authenticator's code at the next 30 s step (django-otp accepts one code per step)."""
    frozen.tick(30)
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def mfa_client(auth_client, frozen) -> APIClient:
    """A signed-in user who enabled TOTP through the API (`backup_codes` kept on the client)."""
    auth_client.post(ENROLL)
    device = TOTPDevice.objects.get(user=auth_client.user, confirmed=False)
    response = auth_client.post(CONFIRM, {"code": next_code(frozen, device)}, format="json")
    assert response.status_code == 200, response.content
    auth_client.backup_codes = response.json()["backup_codes"]
    auth_client.device = TOTPDevice.objects.get(user=auth_client.user, confirmed=True)
    return auth_client


def method_ids(client) -> dict[str, str]:
    return {method["type"]: method["id"] for method in client.get(STATUS).json()["methods"]}


def code_of(response) -> str:
    return response.json()["error"]["code"]


# --- listing ---------------------------------------------------------------------------------


def test_no_methods_before_enabling(auth_client):
    assert auth_client.get(STATUS).json() == {"enabled": False, "methods": [], "backup_codes_remaining": 0}


def test_methods_list_totp_and_backup_codes(mfa_client):
    # when
    body = mfa_client.get(STATUS).json()
    # then
    backup = BackupCodeDevice.objects.get(user=mfa_client.user)
    assert body["enabled"] is True
    assert body["backup_codes_remaining"] == 10
    assert body["methods"] == [
        {
            "id": f"totp_{mfa_client.device.pk}",
            "type": "totp",
            "name": "default",
            "created_at": "2030-03-01T12:00:05.000000Z",
            "last_used_at": "2030-03-01T12:00:35.000000Z",
        },
        {"id": f"backup_codes_{backup.pk}", "type": "backup_codes", "name": "backup codes", "created_at": None, "last_used_at": None},
    ]


def test_last_used_at_follows_sign_ins(mfa_client, frozen):
    # given: a sign-in with a backup code
    frozen.tick(600)
    challenge = APIClient().post(LOGIN, {"email": mfa_client.user.email, "password": "S3cure-passphrase!"}, format="json").json()
    assert APIClient().post(VERIFY, {"mfa_token": challenge["mfa_token"], "code": mfa_client.backup_codes[0]}, format="json").status_code == 200
    # when
    methods = {m["type"]: m for m in mfa_client.get(STATUS).json()["methods"]}
    # then
    assert methods["backup_codes"]["last_used_at"] == "2030-03-01T12:10:35.000000Z"
    assert methods["totp"]["last_used_at"] == "2030-03-01T12:00:35.000000Z"


# --- removing one ------------------------------------------------------------------------------


def test_removing_backup_codes_keeps_totp(mfa_client, frozen):
    # given
    ids = method_ids(mfa_client)
    # when
    response = mfa_client.delete(f"{STATUS}/{ids['backup_codes']}", {"code": next_code(frozen, mfa_client.device)}, format="json")
    # then
    assert response.status_code == 204, response.content
    body = mfa_client.get(STATUS).json()
    assert body["enabled"] is True
    assert [m["type"] for m in body["methods"]] == ["totp"]
    assert body["backup_codes_remaining"] == 0
    assert not BackupCode.objects.filter(device__user=mfa_client.user).exists()
    event = AuditEvent.objects.get(action="mfa.method_removed")
    assert event.metadata == {"method_id": ids["backup_codes"], "type": "backup_codes"}


def test_removing_totp_removes_the_backup_codes_and_turns_mfa_off(mfa_client):
    # given: proved with a backup code this time
    ids = method_ids(mfa_client)
    # when
    response = mfa_client.delete(f"{STATUS}/{ids['totp']}", {"code": mfa_client.backup_codes[0]}, format="json")
    # then
    assert response.status_code == 204, response.content
    assert mfa_client.get(STATUS).json() == {"enabled": False, "methods": [], "backup_codes_remaining": 0}
    assert not TOTPDevice.objects.filter(user=mfa_client.user).exists()
    assert not BackupCodeDevice.objects.filter(user=mfa_client.user).exists()
    assert AuditEvent.objects.filter(action="mfa.disabled", target_id=str(mfa_client.user.id)).count() == 1
    login = APIClient().post(LOGIN, {"email": mfa_client.user.email, "password": "S3cure-passphrase!"}, format="json")
    assert "access_token" in login.json()


def test_wrong_code_removes_nothing(mfa_client):
    ids = method_ids(mfa_client)

    response = mfa_client.delete(f"{STATUS}/{ids['totp']}", {"code": "000000"}, format="json")

    assert response.status_code == 400
    assert "code" in response.json()["error"]["details"]
    assert TOTPDevice.objects.filter(user=mfa_client.user, confirmed=True).exists()
    assert not AuditEvent.objects.filter(action="mfa.disabled").exists()


def test_code_is_required(mfa_client):
    ids = method_ids(mfa_client)

    response = mfa_client.delete(f"{STATUS}/{ids['totp']}", {}, format="json")

    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=mfa_client.user, confirmed=True).exists()


@pytest.mark.parametrize("method_id", ["totp_999999", "backup_codes_abc", "webauthn_1", "sms_1", "totp_", "_1", "x" * 300])
def test_unknown_method_is_404_and_spends_no_backup_code(mfa_client, method_id):
    response = mfa_client.delete(f"{STATUS}/{method_id}", {"code": mfa_client.backup_codes[0]}, format="json")

    assert response.status_code == 404
    assert BackupCode.objects.filter(device__user=mfa_client.user, used_at__isnull=True).count() == 10


def test_another_users_method_is_404(mfa_client, frozen):
    # given: a second user with MFA on
    victim = UserFactory()
    victim_device = TOTPDevice.objects.create(user=victim, name="default", confirmed=True)
    # when: the attacker names the victim's device with their own valid code
    response = mfa_client.delete(f"{STATUS}/totp_{victim_device.pk}", {"code": next_code(frozen, mfa_client.device)}, format="json")
    # then
    assert response.status_code == 404
    assert TOTPDevice.objects.filter(pk=victim_device.pk).exists()


def test_delete_totp_path_keeps_working(mfa_client, frozen):
    response = mfa_client.delete(DISABLE, {"code": next_code(frozen, mfa_client.device)}, format="json")

    assert response.status_code == 204
    assert mfa_client.get(STATUS).json()["enabled"] is False


def test_impersonation_token_cannot_remove_a_method(mfa_client, frozen):
    # given
    staff = UserFactory(is_staff=True)
    staff_pair = session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True)
    staff_actor = Actor(principal=Principal.from_claims(staff, AccessToken(staff_pair.access_token).payload))
    _, pair = impersonation_start(actor=staff_actor, user_id=mfa_client.user.id, reason="support ticket 42")
    impersonator = APIClient()
    impersonator.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    ids = method_ids(mfa_client)
    # when
    response = impersonator.delete(f"{STATUS}/{ids['totp']}", {"code": next_code(frozen, mfa_client.device)}, format="json")
    # then
    assert response.status_code == 403
    assert code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert TOTPDevice.objects.filter(user=mfa_client.user, confirmed=True).exists()


def test_anonymous_cannot_remove_a_method(mfa_client):
    ids = method_ids(mfa_client)

    response = APIClient().delete(f"{STATUS}/{ids['totp']}", {"code": mfa_client.backup_codes[0]}, format="json")

    assert response.status_code == 401
