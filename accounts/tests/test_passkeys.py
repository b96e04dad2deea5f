"""Passkeys (WebAuthn) driven through the API by a software authenticator: register, sign in, refuse attacks."""

import pytest
from django.test import override_settings
from django_otp_webauthn.models import WebAuthnCredential
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import UserSession
from accounts.tests.factories import UserFactory
from accounts.tests.soft_authenticator import SoftAuthenticator
from audit.models import AuditEvent
from conftest import login_tokens

RP_ID = "example.test"
ORIGIN = "https://app.example.test"
REGISTER_BEGIN = "/api/v1/auth/passkeys/register/begin"
REGISTER_COMPLETE = "/api/v1/auth/passkeys/register/complete"
LOGIN_BEGIN = "/api/v1/auth/passkeys/login/begin"
LOGIN_COMPLETE = "/api/v1/auth/passkeys/login/complete"
MFA_BEGIN = "/api/v1/auth/passkeys/mfa/begin"
MFA_COMPLETE = "/api/v1/auth/passkeys/mfa/complete"
STATUS = "/api/v1/auth/mfa"
LOGIN = "/api/v1/auth/login"


@pytest.fixture(autouse=True)
def relying_party(settings):
    settings.OTP_WEBAUTHN_RP_ID = RP_ID
    settings.OTP_WEBAUTHN_RP_NAME = "Example"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


def code_of(response) -> str:
    return response.json()["error"]["code"]


def signed_in(user) -> APIClient:
    client = APIClient()
    body = login_tokens(client, user.email)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    client.tokens = body
    client.user = user
    return client


def register(client: APIClient, authenticator: SoftAuthenticator, **body) -> dict:
    begin = client.post(REGISTER_BEGIN)
    assert begin.status_code == 200, begin.content
    response = client.post(REGISTER_COMPLETE, {"credential": authenticator.create(begin.json()), **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def passkey_sign_in(authenticator: SoftAuthenticator, email: str | None = None, **sign):
    client = APIClient()
    begin = client.post(LOGIN_BEGIN, {"email": email} if email else {}, format="json")
    assert begin.status_code == 200, begin.content
    body = begin.json()
    credential = authenticator.get(body["options"], **sign)
    return client.post(LOGIN_COMPLETE, {"challenge_id": body["challenge_id"], "credential": credential}, format="json")


@pytest.fixture
def passkey_user(auth_client, authenticator):
    """A user who registered one passkey from their password session."""
    auth_client.method = register(auth_client, authenticator, name="Laptop")
    return auth_client


# --- registration ------------------------------------------------------------------------------


def test_register_passkey_end_to_end(auth_client, authenticator):
    # given another live session of the same user (opened with the password alone)
    other = signed_in(auth_client.user)
    # when
    begin = auth_client.post(REGISTER_BEGIN)
    options = begin.json()
    method = auth_client.post(REGISTER_COMPLETE, {"credential": authenticator.create(options), "name": "Laptop"}, format="json")
    # then
    assert begin.status_code == 200
    assert options["rp"] == {"id": RP_ID, "name": "Example"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert method.status_code == 201, method.content
    device = WebAuthnCredential.objects.get(user=auth_client.user)
    assert method.json()["id"] == f"webauthn_{device.pk}"
    assert method.json()["name"] == "Laptop"
    assert device.sign_count == 0 and device.discoverable is True
    status = auth_client.get(STATUS).json()
    assert status["enabled"] is True
    assert [(m["id"], m["type"], m["name"]) for m in status["methods"]] == [(f"webauthn_{device.pk}", "webauthn", "Laptop")]
    actions = set(AuditEvent.objects.filter(target_id=str(auth_client.user.id)).values_list("action", flat=True))
    assert {"mfa.passkey_registered", "mfa.enabled"} <= actions
    # the first factor turned MFA on: the other password-only session is gone, this one stays
    assert UserSession.objects.get(id=AccessToken(other.tokens["access_token"])["sid"]).revoked_at is not None
    assert UserSession.objects.get(id=AccessToken(auth_client.tokens["access_token"])["sid"]).revoked_at is None


def test_backup_flags_are_stored(auth_client):
    synced = SoftAuthenticator(origin=ORIGIN, backup_eligible=True, backed_up=True, counts=False)
    method = register(auth_client, synced)
    device = WebAuthnCredential.objects.get(user=auth_client.user)
    assert (device.backup_eligible, device.backup_state) == (True, True)
    assert (method["backup_eligible"], method["backed_up"]) == (True, True)


def test_register_completion_is_bound_to_the_session_that_began_it(auth_client, authenticator):
    # given a second session of the same user, which did not begin
    begin = auth_client.post(REGISTER_BEGIN).json()
    other = signed_in(auth_client.user)
    # when the other session completes with the first session's challenge
    response = other.post(REGISTER_COMPLETE, {"credential": authenticator.create(begin)}, format="json")
    # then
    assert response.status_code == 400
    assert not WebAuthnCredential.objects.exists()


def test_register_wrong_origin_and_rp_id_refused(auth_client, authenticator):
    for tamper in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
        begin = auth_client.post(REGISTER_BEGIN).json()
        response = auth_client.post(REGISTER_COMPLETE, {"credential": authenticator.create(begin, **tamper)}, format="json")
        assert response.status_code == 400, tamper
    assert not WebAuthnCredential.objects.exists()


def test_register_garbage_is_400(auth_client):
    auth_client.post(REGISTER_BEGIN)
    for credential in ({"id": "x"}, {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "!!", "attestationObject": 5}}):
        response = auth_client.post(REGISTER_COMPLETE, {"credential": credential}, format="json")
        assert response.status_code == 400, response.content
        auth_client.post(REGISTER_BEGIN)
    assert auth_client.post(REGISTER_COMPLETE, {"credential": "text"}, format="json").status_code == 400


def test_register_replay_of_a_completion_refused(passkey_user, authenticator):
    # given a session that passed MFA (a passkey sign-in), which may add passkeys
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {passkey_sign_in(authenticator).json()['access_token']}")
    begin = client.post(REGISTER_BEGIN).json()
    credential = SoftAuthenticator(origin=ORIGIN).create(begin)
    assert client.post(REGISTER_COMPLETE, {"credential": credential}, format="json").status_code == 201
    # when the same completion is sent again
    replay = client.post(REGISTER_COMPLETE, {"credential": credential}, format="json")
    # then
    assert replay.status_code == 400
    assert WebAuthnCredential.objects.filter(user=passkey_user.user).count() == 2


def test_another_users_credential_id_cannot_be_registered(passkey_user, db):
    # given Mallory learned the victim's credential id (it is not secret: sign-in options show it)
    stored = WebAuthnCredential.objects.get(user=passkey_user.user)
    mallory = signed_in(UserFactory())
    begin = mallory.post(REGISTER_BEGIN).json()
    # when her client attests that id with her own key
    credential = SoftAuthenticator(origin=ORIGIN).create(begin, credential_id=bytes(stored.credential_id))
    response = mallory.post(REGISTER_COMPLETE, {"credential": credential}, format="json")
    # then the id stays the victim's, with the victim's key
    assert response.status_code == 409
    assert not WebAuthnCredential.objects.filter(user=mallory.user).exists()
    assert bytes(WebAuthnCredential.objects.get(pk=stored.pk).public_key) == bytes(stored.public_key)


def test_a_stolen_password_cannot_add_a_factor(passkey_user, authenticator):
    # given the account has a passkey: a password sign-in now stops at the MFA challenge
    response = APIClient().post(LOGIN, {"email": passkey_user.user.email, "password": "S3cure-passphrase!"}, format="json")
    assert response.json()["status"] == "mfa_required"
    # and the registering session, opened with the password alone, cannot add another factor
    refused = passkey_user.post(REGISTER_BEGIN)
    assert refused.status_code == 403
    assert code_of(refused) == "MFA_REQUIRED"
    assert passkey_user.post("/api/v1/auth/mfa/totp/enroll").status_code == 403


def test_a_passkey_session_adds_a_second_passkey(passkey_user, authenticator):
    tokens = passkey_sign_in(authenticator).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    register(client, SoftAuthenticator(origin=ORIGIN), name="Phone")
    assert WebAuthnCredential.objects.filter(user=passkey_user.user).count() == 2


def test_staff_cannot_register_from_a_password_session(db, authenticator):
    staff = UserFactory(is_staff=True)
    client = signed_in(staff)
    response = client.post(REGISTER_BEGIN)
    assert response.status_code == 403
    assert "operator" in response.json()["error"]["message"]


def test_register_needs_sign_in(db, api_client):
    assert api_client.post(REGISTER_BEGIN).status_code == 401


# --- passwordless sign-in ----------------------------------------------------------------------


def test_passwordless_sign_in_discoverable(passkey_user, authenticator):
    # when
    response = passkey_sign_in(authenticator)
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    claims = AccessToken(body["access_token"])
    assert claims["sub"] == str(passkey_user.user.id)
    assert claims["mfa"] is True
    session = UserSession.objects.get(id=claims["sid"])
    assert (session.auth_method, session.mfa_verified) == ("passkey", True)
    device = WebAuthnCredential.objects.get(user=passkey_user.user)
    assert device.sign_count == 1 and device.last_used_at is not None
    assert AuditEvent.objects.filter(action="user.passkey_login", target_id=str(passkey_user.user.id)).count() == 1


def test_passwordless_sign_in_with_email_names_the_credentials(passkey_user, authenticator):
    begin = APIClient().post(LOGIN_BEGIN, {"email": passkey_user.user.email}, format="json").json()
    device = WebAuthnCredential.objects.get(user=passkey_user.user)
    from fido2.utils import websafe_decode

    assert [websafe_decode(c["id"]) for c in begin["options"]["allowCredentials"]] == [bytes(device.credential_id)]
    assert passkey_sign_in(authenticator, email=passkey_user.user.email).status_code == 200


def test_unknown_email_gets_a_decoy_of_the_same_shape(passkey_user, authenticator):
    client = APIClient()
    real = client.post(LOGIN_BEGIN, {"email": passkey_user.user.email}, format="json").json()["options"]
    decoy = client.post(LOGIN_BEGIN, {"email": "nobody@example.com"}, format="json").json()["options"]
    again = client.post(LOGIN_BEGIN, {"email": "nobody@example.com"}, format="json").json()["options"]
    assert set(decoy) == set(real)
    assert len(decoy["allowCredentials"]) == 1 and set(decoy["allowCredentials"][0]) == set(real["allowCredentials"][0])
    assert decoy["allowCredentials"] == again["allowCredentials"]


def test_replayed_assertion_refused(passkey_user, authenticator):
    client = APIClient()
    begin = client.post(LOGIN_BEGIN, {}, format="json").json()
    credential = authenticator.get(begin["options"])
    assert client.post(LOGIN_COMPLETE, {"challenge_id": begin["challenge_id"], "credential": credential}, format="json").status_code == 200
    # the same challenge id again
    replay = client.post(LOGIN_COMPLETE, {"challenge_id": begin["challenge_id"], "credential": credential}, format="json")
    assert replay.status_code == 401
    assert code_of(replay) == "TOKEN_INVALID"
    # the captured assertion against a fresh challenge
    fresh = client.post(LOGIN_BEGIN, {}, format="json").json()
    replay = client.post(LOGIN_COMPLETE, {"challenge_id": fresh["challenge_id"], "credential": credential}, format="json")
    assert replay.status_code == 401
    assert code_of(replay) == "AUTHENTICATION_FAILED"


def test_challenge_from_another_begin_refused(passkey_user, authenticator):
    client = APIClient()
    first = client.post(LOGIN_BEGIN, {}, format="json").json()
    second = client.post(LOGIN_BEGIN, {}, format="json").json()
    credential = authenticator.get(second["options"])
    response = client.post(LOGIN_COMPLETE, {"challenge_id": first["challenge_id"], "credential": credential}, format="json")
    assert response.status_code == 401
    # the second begin is still usable with its own assertion
    ok = client.post(LOGIN_COMPLETE, {"challenge_id": second["challenge_id"], "credential": authenticator.get(second["options"])}, format="json")
    assert ok.status_code == 200


def test_wrong_origin_refused(passkey_user, authenticator):
    response = passkey_sign_in(authenticator, origin="https://phish.example")
    assert response.status_code == 401
    assert code_of(response) == "AUTHENTICATION_FAILED"


def test_wrong_rp_id_refused(passkey_user, authenticator):
    response = passkey_sign_in(authenticator, rp_id="phish.example")
    assert response.status_code == 401


def test_counter_regression_refused(passkey_user, authenticator):
    # given the authenticator has signed twice (stored count 2)
    assert passkey_sign_in(authenticator).status_code == 200
    assert passkey_sign_in(authenticator).status_code == 200
    # when a clone signs with an older count
    response = passkey_sign_in(authenticator, counter=1)
    # then
    assert response.status_code == 401
    assert WebAuthnCredential.objects.get(user=passkey_user.user).sign_count == 2
    failed = AuditEvent.objects.get(action="user.login_failed", target_id=str(passkey_user.user.id))
    assert failed.metadata["reason"] == "counter_regression"


def test_synced_passkey_with_zero_counter_signs_in_repeatedly(auth_client):
    synced = SoftAuthenticator(origin=ORIGIN, backup_eligible=True, backed_up=True, counts=False)
    register(auth_client, synced)
    assert passkey_sign_in(synced).status_code == 200
    assert passkey_sign_in(synced).status_code == 200


def test_another_users_credential_refused(passkey_user, authenticator, db):
    # given a second user with their own passkey
    mallory = signed_in(UserFactory())
    mallorys_key = SoftAuthenticator(origin=ORIGIN)
    register(mallory, mallorys_key)
    # when Mallory answers a sign-in begun for the victim's e-mail with her own passkey
    response = passkey_sign_in(mallorys_key, email=passkey_user.user.email, credential=mallorys_key.credentials[0])
    # then
    assert response.status_code == 401
    assert not UserSession.objects.filter(user=passkey_user.user, auth_method="passkey").exists()


def test_user_handle_must_match_the_credential(passkey_user, authenticator):
    client = APIClient()
    begin = client.post(LOGIN_BEGIN, {}, format="json").json()
    credential = authenticator.get(begin["options"])
    credential["response"]["userHandle"] = "AAAA"
    assert client.post(LOGIN_COMPLETE, {"challenge_id": begin["challenge_id"], "credential": credential}, format="json").status_code == 401


def test_unknown_credential_and_garbage_refused_not_500(passkey_user):
    stranger = SoftAuthenticator(origin=ORIGIN)
    stranger.create({"rp": {"id": RP_ID}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
    assert passkey_sign_in(stranger).status_code == 401
    client = APIClient()
    for credential in ({}, {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": 1}}):
        begin = client.post(LOGIN_BEGIN, {}, format="json").json()
        response = client.post(LOGIN_COMPLETE, {"challenge_id": begin["challenge_id"], "credential": credential}, format="json")
        assert response.status_code == 401, response.content
    assert client.post(LOGIN_COMPLETE, {"challenge_id": "x", "credential": []}, format="json").status_code == 400


def test_inactive_user_refused(passkey_user, authenticator):
    passkey_user.user.is_active = False
    passkey_user.user.save(update_fields=["is_active"])
    assert passkey_sign_in(authenticator).status_code == 401


@override_settings(AXES_FAILURE_LIMIT=3)
def test_failures_lock_the_account_like_passwords(passkey_user, authenticator):
    for _ in range(3):
        assert passkey_sign_in(authenticator, origin="https://phish.example").status_code == 401
    # a good passkey is refused while the lockout lasts
    response = passkey_sign_in(authenticator)
    assert response.status_code == 429
    assert code_of(response) == "RATE_LIMIT_EXCEEDED"


# --- passkey as the second factor of a password sign-in ------------------------------------------


def mfa_token_of(user) -> str:
    body = APIClient().post(LOGIN, {"email": user.email, "password": "S3cure-passphrase!"}, format="json").json()
    assert body["status"] == "mfa_required"
    return body["mfa_token"]


def test_mfa_challenge_completed_with_a_passkey(passkey_user, authenticator):
    token = mfa_token_of(passkey_user.user)
    client = APIClient()
    options = client.post(MFA_BEGIN, {"mfa_token": token}, format="json").json()
    response = client.post(MFA_COMPLETE, {"mfa_token": token, "credential": authenticator.get(options)}, format="json")
    assert response.status_code == 200, response.content
    claims = AccessToken(response.json()["access_token"])
    assert claims["mfa"] is True
    assert UserSession.objects.get(id=claims["sid"]).auth_method == "password+passkey"
    # the challenge is spent
    again = client.post(MFA_COMPLETE, {"mfa_token": token, "credential": authenticator.get(options)}, format="json")
    assert again.status_code == 401


def test_mfa_challenge_refuses_another_users_passkey(passkey_user, authenticator):
    mallory = signed_in(UserFactory())
    mallorys_key = SoftAuthenticator(origin=ORIGIN)
    register(mallory, mallorys_key)
    token = mfa_token_of(passkey_user.user)
    client = APIClient()
    options = client.post(MFA_BEGIN, {"mfa_token": token}, format="json").json()
    mallorys_key.credentials[0].counter = 5
    forged = mallorys_key.get(options, credential=mallorys_key.credentials[0])
    response = client.post(MFA_COMPLETE, {"mfa_token": token, "credential": forged}, format="json")
    assert response.status_code == 400
    assert AuditEvent.objects.filter(action="mfa.verification_failed", target_id=str(passkey_user.user.id)).exists()


def test_mfa_passkey_state_is_bound_to_its_challenge(passkey_user, authenticator):
    first, second = mfa_token_of(passkey_user.user), mfa_token_of(passkey_user.user)
    client = APIClient()
    options = client.post(MFA_BEGIN, {"mfa_token": first}, format="json").json()
    # an assertion over the first sign-in's challenge cannot finish the second sign-in
    response = client.post(MFA_COMPLETE, {"mfa_token": second, "credential": authenticator.get(options)}, format="json")
    assert response.status_code == 400


def test_mfa_begin_for_unknown_token_or_no_passkey(auth_client):
    assert APIClient().post(MFA_BEGIN, {"mfa_token": "nope"}, format="json").status_code == 401


# --- removal -----------------------------------------------------------------------------------


def test_remove_passkey_needs_an_mfa_session(passkey_user, authenticator):
    method_id = passkey_user.method["id"]
    # the password-only session cannot strip the factor
    refused = passkey_user.delete(f"{STATUS}/{method_id}", {}, format="json")
    assert refused.status_code == 403
    assert code_of(refused) == "MFA_REQUIRED"
    # a passkey session can; the last factor gone, MFA is off
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {passkey_sign_in(authenticator).json()['access_token']}")
    assert client.delete(f"{STATUS}/{method_id}", {}, format="json").status_code == 204
    assert client.get(STATUS).json()["enabled"] is False
    assert AuditEvent.objects.filter(action="mfa.disabled", target_id=str(passkey_user.user.id)).exists()


def test_cannot_remove_another_users_passkey(passkey_user, db):
    mallory = signed_in(UserFactory())
    response = mallory.delete(f"{STATUS}/{passkey_user.method['id']}", {}, format="json")
    assert response.status_code == 404
    assert WebAuthnCredential.objects.filter(user=passkey_user.user).exists()


# --- STAFF_REQUIRE_PASSKEY -----------------------------------------------------------------------


def staff_with_passkey(authenticator: SoftAuthenticator):
    """A staff member who has TOTP from an operator and added a passkey from a TOTP (MFA) session."""
    from accounts.sessions import session_create
    from core.actor import Actor, Principal

    staff = UserFactory(is_staff=True)
    # An operator-enrolled TOTP sign-in: an MFA-verified password session.
    pair = session_create(user=staff, actor=Actor(principal=Principal.for_user(staff)), mfa_verified=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    register(client, authenticator)
    return staff, client


def test_staff_power_needs_a_passkey_session_when_required(db, settings, authenticator):
    # given
    settings.STAFF_REQUIRE_PASSKEY = True
    staff, totp_client = staff_with_passkey(authenticator)
    target = UserFactory()
    body = {"user_id": str(target.id), "reason": "Ticket 42: customer asked for help"}
    # when a session whose second factor was not a passkey asks for a staff power
    refused = totp_client.post("/api/v1/staff/impersonate", body, format="json")
    # then
    assert refused.status_code == 403
    assert code_of(refused) == "MFA_REQUIRED"
    # and a passkey session gets it
    passkey_client = APIClient()
    passkey_client.credentials(HTTP_AUTHORIZATION=f"Bearer {passkey_sign_in(authenticator).json()['access_token']}")
    assert passkey_client.post("/api/v1/staff/impersonate", body, format="json").status_code == 200


def test_staff_totp_session_keeps_staff_powers_by_default(db, authenticator):
    staff, totp_client = staff_with_passkey(authenticator)
    body = {"user_id": str(UserFactory().id), "reason": "Ticket 42: customer asked for help"}
    assert totp_client.post("/api/v1/staff/impersonate", body, format="json").status_code == 200


# --- the staff admin's sign-in ---------------------------------------------------------------------

ADMIN = "/admin/"
ADMIN_LOGIN = "/admin/login/"


def admin_passkey_login(client, staff, authenticator: SoftAuthenticator, **sign):
    """What admin_passkey.js does: begin with the e-mail typed, sign, post the form with the password."""
    import json

    begin = APIClient().post(LOGIN_BEGIN, {"email": staff.email}, format="json").json()
    assertion = authenticator.get(begin["options"], **sign)
    return client.post(
        ADMIN_LOGIN,
        {
            "username": staff.email,
            "password": "S3cure-passphrase!",
            "next": ADMIN,
            "passkey_challenge": begin["challenge_id"],
            "passkey_credential": json.dumps(assertion),
        },
    )


def test_admin_sign_in_with_password_and_passkey(db, settings, authenticator):
    from django.test import Client

    settings.STAFF_REQUIRE_PASSKEY = True
    staff, _ = staff_with_passkey(authenticator)
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    client = Client()
    # the page offers the passkey button (a 'self' script) and no code field
    page = client.get(ADMIN_LOGIN).content.decode()
    assert "admin_passkey.js" in page and 'name="code"' not in page
    response = admin_passkey_login(client, staff, authenticator)
    assert response.status_code == 302 and response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_admin_refuses_totp_when_passkeys_are_required(db, settings, authenticator):
    from django.test import Client
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.STAFF_REQUIRE_PASSKEY = True
    staff, _ = staff_with_passkey(authenticator)
    device = TOTPDevice.objects.create(user=staff, name="default", confirmed=True)
    code = f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"
    client = Client()
    response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": "S3cure-passphrase!", "code": code, "next": ADMIN})
    assert response.status_code == 200
    assert "needs a passkey" in response.content.decode()
    assert client.get(ADMIN).status_code == 302


def test_admin_passkey_of_another_staff_member_refused(db, settings, authenticator):
    from django.test import Client

    staff, _ = staff_with_passkey(authenticator)
    other_key = SoftAuthenticator(origin=ORIGIN)
    other, _ = staff_with_passkey(other_key)
    # the victim's sign-in begun, answered with the other staff member's passkey
    response = admin_passkey_login(Client(), staff, other_key, credential=other_key.credentials[0])
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="user.login_failed", target_id=str(staff.id)).exists()
