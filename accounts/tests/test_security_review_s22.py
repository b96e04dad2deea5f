"""Security review s22 (attacker's view) of sign-in additions: org selection."""

import pytest
from rest_framework.test import APIClient

from accounts import services
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.actor import Actor
from organizations.tests.factories import MembershipFactory, OrganizationFactory

LOGIN = "/api/v1/auth/login"
SELECT = "/api/v1/auth/select-org"


@pytest.fixture
def person(db):
    user = UserFactory()
    alpha = OrganizationFactory(name="Alpha", slug="alpha")
    beta = OrganizationFactory(name="Beta", slug="beta")
    MembershipFactory(user=user, organization=alpha, role="owner")
    MembershipFactory(user=user, organization=beta, role="viewer")
    return user, alpha


def test_a_selection_token_dies_when_the_victim_changes_the_password(person):
    # given: an attacker with the stolen password signs in and holds a selection token
    user, alpha = person
    login = APIClient().post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD, "org_selection": True}, format="json")
    assert login.status_code == 200 and login.json()["status"] == "org_selection_required", login.content
    token = login.json()["selection_token"]
    # the victim notices and changes the password, which revokes every session (sessions_revoke_all)
    services.password_change(user=user, current_password=DEFAULT_PASSWORD, new_password="An0ther-passphrase!", actor=Actor.for_user(user))

    # when: the attacker spends the selection token afterwards (it lives 5 minutes)
    response = APIClient().post(SELECT, {"selection_token": token, "organization_id": str(alpha.id)}, format="json")

    # then: no fresh session may come out of a sign-in made with the old password
    assert response.status_code == 401, f"selection token minted a session after the password change: {response.status_code}"


@pytest.mark.django_db
def test_a_pending_mfa_challenge_dies_when_the_victim_changes_the_password():
    # given an attacker who passed the password step of a victim with MFA on
    import time

    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.mfa import challenge_issue

    client = APIClient()
    victim = UserFactory()
    device = TOTPDevice.objects.create(user=victim, name="default", confirmed=True)
    mfa_token = challenge_issue(user=victim)
    # when the victim changes their password
    services.password_change(user=victim, current_password=DEFAULT_PASSWORD, new_password="new-Passw0rd!y-long", actor=Actor.for_user(victim))
    # then the pending challenge cannot be finished, even with a good code
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    response = client.post("/api/v1/auth/mfa/verify", {"mfa_token": mfa_token, "code": f"{totp.token():0{device.digits}d}"}, format="json")
    assert response.status_code in (400, 401), response.content


@pytest.mark.django_db
def test_a_staff_password_alone_cannot_enrol_the_factor_that_unlocks_staff_powers():
    # given someone holding only a staff member's password (staff powers need an MFA session)
    staff = UserFactory(is_staff=True)
    client = APIClient()
    tokens = client.post("/api/v1/auth/login", {"email": staff.email, "password": DEFAULT_PASSWORD}, format="json").json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    # when they try to set up an authenticator of their own through the API
    response = client.post("/api/v1/auth/mfa/totp/enroll")
    # then it is refused: a staff factor is set up by an operator (manage.py accounts_totp_enroll)
    assert response.status_code == 403
    assert "accounts_totp_enroll" in response.json()["error"]["message"]
