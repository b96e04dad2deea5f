"""Staff admin: reachable only after an OTP-verified login; secrets never rendered."""

import time
from base64 import b32encode

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts import mfa
from accounts.models import BackupCode, OneTimeToken, UserSession
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEvent
from conftest import login_tokens

ADMIN = "/admin/"
LOGIN = "/admin/login/"
USERS = "/admin/accounts/user/"


def totp_now(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_device(staff_user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=staff_user, name="default", confirmed=True)


def admin_login(client: Client, user, password: str = DEFAULT_PASSWORD, **fields) -> object:
    return client.post(LOGIN, {"username": user.email, "password": password, "next": ADMIN, **fields})


@pytest.fixture
def admin_client_otp(staff_user, staff_device) -> Client:
    """A staff member signed in through the admin form with password + TOTP, in one step."""
    client = Client()
    response = admin_login(client, staff_user, code=totp_now(staff_device))
    assert response.status_code == 302, response.content
    assert response["Location"] == ADMIN
    return client


def test_anonymous_is_sent_to_login(db):
    response = Client().get(ADMIN)

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_a_password_alone_does_not_open_the_admin(staff_user, staff_device):
    # given: a staff session without OTP verification
    client = Client()
    client.force_login(staff_user)
    # when
    response = client.get(ADMIN)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_the_login_form_asks_for_a_code_on_the_same_form(staff_user, staff_device):
    client = Client()

    page = client.get(LOGIN).content.decode()
    response = admin_login(client, staff_user)

    assert 'name="code"' in page and 'name="password"' in page
    assert "otp_device" not in page  # no device drop-down
    assert response.status_code == 200  # the form again, with an error
    assert client.get(ADMIN).status_code == 302


def test_sign_in_with_a_totp_code_succeeds_on_the_first_try(staff_user, staff_device):
    # given
    client = Client()
    # when
    response = admin_login(client, staff_user, code=totp_now(staff_device))
    # then
    assert response.status_code == 302 and response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_sign_in_with_a_backup_code_succeeds_and_spends_it(staff_user, staff_device):
    # given
    codes = mfa._backup_codes_replace(user=staff_user)
    client = Client()
    # when
    response = admin_login(client, staff_user, code=codes[0])
    # then
    assert response.status_code == 302 and response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200
    assert BackupCode.objects.filter(device__user=staff_user, used_at__isnull=False).count() == 1
    assert admin_login(Client(), staff_user, code=codes[0]).status_code == 200  # single use


def test_a_wrong_code_is_refused_on_the_same_page_without_echoing_the_password(staff_user, staff_device):
    client = Client()
    right = totp_now(staff_device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = admin_login(client, staff_user, code=wrong)

    html = response.content.decode()
    assert response.status_code == 200
    assert "errornote" in html and 'name="code"' in html
    assert DEFAULT_PASSWORD not in html
    assert f'value="{wrong}"' not in html
    assert client.get(ADMIN).status_code == 302
    failed = AuditEvent.objects.get(action="user.login_failed")
    assert failed.target_id == str(staff_user.pk) and failed.metadata["reason"] == "mfa_code"


def test_a_wrong_password_gets_the_same_message_as_a_wrong_code(staff_user, staff_device):
    wrong_code = admin_login(Client(), staff_user, code="ZZZZZ-ZZZZZ").content.decode()
    wrong_password = admin_login(Client(), staff_user, password="not-the-password", code=totp_now(staff_device)).content.decode()

    assert "All three are checked together" in wrong_code
    assert "All three are checked together" in wrong_password
    assert "not-the-password" not in wrong_password


def test_wrong_codes_count_towards_the_lockout(staff_user, staff_device, settings):
    # given: the lockout of the API's login (django-axes) after 3 failures
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        admin_login(Client(), staff_user, code="ZZZZZ-ZZZZZ")
    # when: the right password and code now
    response = admin_login(Client(), staff_user, code=totp_now(staff_device))
    # then
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_staff_without_mfa_cannot_enter_and_are_told_how_to_set_it_up(staff_user):
    client = Client()

    response = admin_login(client, staff_user, code="123456")

    assert response.status_code == 200
    assert "manage.py accounts_totp_enroll" in response.content.decode()
    assert client.get(ADMIN).status_code == 302


def test_another_users_code_cannot_verify(staff_user, staff_device):
    other = TOTPDevice.objects.create(user=UserFactory(), name="default", confirmed=True)
    client = Client()

    admin_login(client, staff_user, code=totp_now(other))

    assert client.get(ADMIN).status_code == 302


def test_non_staff_with_otp_cannot_enter(db):
    user = UserFactory()
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    client = Client()

    response = admin_login(client, user, code=totp_now(device))

    assert response.status_code == 200
    assert client.get(ADMIN).status_code == 302


def test_the_two_accounts_sections_are_one(admin_client_otp):
    html = admin_client_otp.get(ADMIN).content.decode()

    assert html.count('class="section" title="Models in the Accounts application"') == 1


def test_otp_verified_staff_reach_the_index_and_the_user_list(admin_client_otp, staff_user):
    index = admin_client_otp.get(ADMIN)
    users = admin_client_otp.get(USERS)

    assert index.status_code == 200
    assert users.status_code == 200
    assert staff_user.email in users.content.decode()


def test_users_can_be_searched_and_filtered(admin_client_otp):
    UserFactory(email="needle@example.com")
    UserFactory(email="hay@example.com")

    found = admin_client_otp.get(USERS, {"q": "needle"}).content.decode()
    inactive = admin_client_otp.get(USERS, {"is_active__exact": "0"}).content.decode()

    assert "needle@example.com" in found and "hay@example.com" not in found
    assert "needle@example.com" not in inactive


def test_no_password_hash_appears(admin_client_otp, staff_user):
    user = UserFactory()
    pages = [admin_client_otp.get(USERS), admin_client_otp.get(f"{USERS}{user.pk}/change/")]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert user.password not in html
        assert staff_user.password not in html
        assert "argon2" not in html


def test_no_totp_key_appears(admin_client_otp, staff_device):
    base = "/admin/otp_totp/totpdevice/"
    pages = [admin_client_otp.get(base), admin_client_otp.get(f"{base}{staff_device.pk}/change/")]
    b32_key = b32encode(staff_device.bin_key).decode().rstrip("=")

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert staff_device.key not in html
        assert b32_key not in html
    # django-otp's own config/QR views (which show the key) are gone with its admin.
    assert admin_client_otp.get(f"{base}{staff_device.pk}/config/").status_code in (302, 404)


def test_no_backup_code_hash_or_token_hash_appears(admin_client_otp, db):
    user = UserFactory()
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    mfa._backup_codes_replace(user=user)
    challenge = mfa.challenge_issue(user=user)
    token = OneTimeToken.objects.get(user=user)
    pages = [
        admin_client_otp.get("/admin/accounts/backupcodedevice/"),
        admin_client_otp.get("/admin/accounts/onetimetoken/"),
        admin_client_otp.get(f"/admin/accounts/onetimetoken/{token.pk}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert token.token_hash not in html
        assert challenge not in html
        for code in BackupCode.objects.filter(device__user=user):
            assert code.code_hash not in html


def test_sessions_are_read_only_and_hide_the_refresh_id(admin_client_otp):
    user = UserFactory()
    login_tokens(APIClient(), user.email)
    session = UserSession.objects.get(user=user)

    listing = admin_client_otp.get("/admin/accounts/usersession/")
    detail = admin_client_otp.get(f"/admin/accounts/usersession/{session.pk}/change/")

    assert listing.status_code == 200 and user.email in listing.content.decode()
    assert detail.status_code == 200
    assert session.refresh_jti not in detail.content.decode()
    assert admin_client_otp.get("/admin/accounts/usersession/add/").status_code == 403
    assert admin_client_otp.get(f"/admin/accounts/usersession/{session.pk}/delete/").status_code == 403


def test_revoke_all_sessions_action(admin_client_otp, staff_user, django_capture_on_commit_callbacks):
    # given: a user signed in twice through the API
    user = UserFactory()
    login_tokens(APIClient(), user.email)
    login_tokens(APIClient(), user.email)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_otp.post(USERS, {"action": "revoke_sessions", "_selected_action": [str(user.pk)]})
    # then
    assert response.status_code == 302
    assert not UserSession.objects.filter(user=user, revoked_at__isnull=True).exists()
    events = AuditEvent.objects.filter(action="session.revoked", actor_id=staff_user.id)
    assert events.count() == 2


def test_reset_mfa_action(admin_client_otp, staff_user):
    user = UserFactory()
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)

    response = admin_client_otp.post(USERS, {"action": "reset_mfa", "_selected_action": [str(user.pk)]})

    assert response.status_code == 302
    assert not mfa.mfa_enabled(user=user)
    event = AuditEvent.objects.get(action="mfa.disabled")
    assert event.actor_id == staff_user.id and event.target_id == str(user.pk)


def test_editing_a_user_is_audited(admin_client_otp, staff_user):
    user = UserFactory(full_name="Old Name")

    response = admin_client_otp.post(
        f"{USERS}{user.pk}/change/",
        {"full_name": "New Name", "phone": "", "avatar_url": "", "is_active": "on"},
    )

    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert user.full_name == "New Name"
    event = AuditEvent.objects.get(action="user.updated", target_id=str(user.pk))
    assert event.actor_id == staff_user.id
    assert event.changes["full_name"] == ["Old Name", "New Name"]


def test_users_cannot_be_added_or_deleted_from_the_admin(admin_client_otp):
    user = UserFactory()

    assert admin_client_otp.get(f"{USERS}add/").status_code == 403
    assert admin_client_otp.get(f"{USERS}{user.pk}/delete/").status_code == 403


def test_the_admin_password_change_revokes_api_sessions_and_is_audited(admin_client_otp, staff_user):
    from accounts import sessions
    from core.actor import Actor

    api = APIClient()  # an API session of the staff member (signed in with MFA elsewhere)
    pair = sessions.session_create(user=staff_user, actor=Actor.for_user(staff_user), mfa_verified=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    assert api.get("/api/v1/users/me").status_code == 200

    response = admin_client_otp.post(
        "/admin/password_change/",
        {"old_password": DEFAULT_PASSWORD, "new_password1": "A-new-long-passphrase-9", "new_password2": "A-new-long-passphrase-9"},
    )

    assert response.status_code == 302 and response["Location"] == "/admin/password_change/done/"
    staff_user.refresh_from_db()
    assert staff_user.check_password("A-new-long-passphrase-9")
    assert api.get("/api/v1/users/me").status_code == 401  # the token of the old password is dead at once
    assert not UserSession.objects.filter(user=staff_user, revoked_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="user.password_changed", actor_id=staff_user.id).exists()
    assert admin_client_otp.get(ADMIN).status_code == 200  # this admin session stays signed in


def test_the_admin_password_change_still_checks_the_current_password(admin_client_otp, staff_user):
    response = admin_client_otp.post(
        "/admin/password_change/",
        {"old_password": "not-it", "new_password1": "A-new-long-passphrase-9", "new_password2": "A-new-long-passphrase-9"},
    )

    assert response.status_code == 200  # the form again, with its error
    staff_user.refresh_from_db()
    assert staff_user.check_password(DEFAULT_PASSWORD)
