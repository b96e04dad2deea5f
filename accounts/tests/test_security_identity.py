"""Identity takeovers, tried as an attacker would (API.md v1.1 invariants 3, 4, 5, 10).

Each test is the attack; it passed (the attack worked) on main before the fix.
"""

import re

import pytest
from allauth.socialaccount.models import SocialAccount
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import OneTimeToken, User, UserSession
from accounts.sessions import session_create
from accounts.staff import impersonation_start
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from accounts.tests.fake_google import GoogleAccount
from accounts.tests.test_oauth_google import (  # noqa: F401 (fixtures)
    LINK,
    START,
    _linking_needs_a_verified_email,
    frontend_fragment,
    google,
    google_server,
    local,
    round_trip,
    totp_now,
)
from audit.models import AuditEvent
from conftest import login_tokens
from core import clock, entitlements
from core.actor import Actor, Principal
from organizations.models import Domain, Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


VICTIM_EMAIL = "victim@victim.example"


@pytest.fixture(autouse=True)
def _unlimited_plan(monkeypatch):
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: None)


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def code_of(response) -> str:
    return response.json()["error"]["code"]


def login(email: str, password: str = DEFAULT_PASSWORD) -> dict:
    response = APIClient().post("/api/v1/auth/login", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- 1. a verified e-mail without the mailbox ------------------------------------------------------


@pytest.fixture
def squatter(django_capture_on_commit_callbacks, mailoutbox):
    """The attack: invite victim@ into my own org, accept it myself with the code the API handed me."""
    attacker = UserFactory(email="mallory@attacker.example", email_verified_at=clock.now())
    own_org = OrganizationFactory()
    MembershipFactory(organization=own_org, user=attacker, role="owner")
    attacker_api = bearer(session_create(user=attacker, actor=Actor.for_user(attacker), organization_id=own_org.id).access_token)
    issued = attacker_api.post(f"/api/v1/orgs/{own_org.id}/invites", {"email": VICTIM_EMAIL, "role": "member"}, format="json")
    assert issued.status_code == 201, issued.content
    with django_capture_on_commit_callbacks(execute=True):
        accepted = APIClient().post(f"/api/v1/invites/{issued.json()['code']}/accept", {"full_name": "Not Victim", "password": DEFAULT_PASSWORD}, format="json")
    assert accepted.status_code == 200, accepted.content
    return {"attacker": attacker, "org": own_org, "accepted": accepted.json(), "mail": list(mailoutbox)}


def test_accepting_an_invite_with_its_code_does_not_verify_the_email(squatter):
    # then: the account exists, is signed in, but its address is not proven
    account = User.objects.get(email=VICTIM_EMAIL)
    assert account.email_verified is False and account.email_verified_at is None
    assert squatter["accepted"]["user"]["email_verified"] is False
    # and the normal verification mail went to the mailbox, with a token nobody else was shown
    verification = [m for m in squatter["mail"] if m.to == [VICTIM_EMAIL] and "verify-email?token=" in m.body]
    assert len(verification) == 1
    token = re.search(r"verify-email\?token=([\w-]+)", verification[0].body).group(1)
    assert token not in str(squatter["accepted"])
    assert OneTimeToken.objects.filter(user=account, purpose=OneTimeToken.Purpose.EMAIL_VERIFY, used_at__isnull=True).exists()


def test_the_mailed_token_is_what_verifies_the_email(squatter, api_client):
    token = re.search(r"verify-email\?token=([\w-]+)", squatter["mail"][-1].body).group(1)

    response = api_client.post("/api/v1/auth/email/verify", {"token": token}, format="json")

    assert response.status_code == 200 and User.objects.get(email=VICTIM_EMAIL).email_verified


def test_domain_auto_join_does_not_admit_the_squatted_account(squatter):
    # given: the real victim.example org has verified its domain with auto-join
    victim_org = OrganizationFactory()
    MembershipFactory(organization=victim_org, role="owner")
    Domain.objects.create(organization=victim_org, domain="victim.example", join_policy="auto_join", verification_token="t" * 40, verified_at=clock.now())

    # when: the attacker signs in to the squatted account
    login(VICTIM_EMAIL)

    # then
    assert not Membership.objects.filter(organization=victim_org, user__email=VICTIM_EMAIL).exists()


def test_membership_add_from_a_domain_refuses_an_unverified_address(squatter):
    from core.exceptions import ApplicationError
    from organizations.services import membership_add

    victim_org = OrganizationFactory()
    with pytest.raises(ApplicationError) as refused:
        victim = User.objects.get(email=VICTIM_EMAIL)
        membership_add(organization=victim_org, user=victim, role="member", actor=Actor.for_user(victim), source="domain")

    assert refused.value.code == "VALIDATION_ERROR"
    assert not Membership.objects.filter(organization=victim_org).exists()


def test_google_sign_in_of_the_real_owner_does_not_land_in_the_squatted_account(squatter, google, round_trip):
    # given: the real owner of the mailbox, signed in to Google (Google verified the address)
    google.sign_in(GoogleAccount(email=VICTIM_EMAIL, email_verified=True))

    # when
    fragment = round_trip()

    # then: refused, nothing linked, no session for the squatted account
    assert fragment == {"error": "account_exists"}
    account = User.objects.get(email=VICTIM_EMAIL)
    assert not SocialAccount.objects.filter(user=account).exists()
    assert not UserSession.objects.filter(user=account, auth_method="google").exists()
    assert account.check_password(DEFAULT_PASSWORD)  # the squatter's password opens nothing more than before


# --- 9. forced account linking ------------------------------------------------------------------


def test_a_link_url_opened_in_another_browser_links_nothing(google, round_trip):
    # given: the attacker asks for a link URL and sends it to the victim
    attacker = UserFactory(email="mallory@attacker.example", email_verified_at=clock.now())
    attacker_browser = bearer(login(attacker.email)["access_token"])
    redirect_url = attacker_browser.get(LINK).json()["redirect_url"]
    victim_google = google.sign_in(GoogleAccount(email="victim@gmail.example"))

    # when: the victim's browser (no binding cookie) opens it
    victim_browser = APIClient()
    started = victim_browser.get(local(redirect_url))

    # then: no trip to Google, no Django session for the attacker in the victim's browser, no link
    assert frontend_fragment(started) == {"error": "link_invalid"}
    assert "_auth_user_id" not in victim_browser.session
    assert not SocialAccount.objects.filter(uid=victim_google.sub).exists()
    # and the token was not spent: the browser that asked may still use it (with its own Google)
    google.sign_in(GoogleAccount(email="mallory@gmail.example"))
    assert round_trip(browser=attacker_browser, start=local(redirect_url)) == {"linked": "google"}
    assert SocialAccount.objects.get().user == attacker


def test_a_link_flow_started_by_the_attacker_cannot_be_finished_by_the_victim(google):
    # given: the attacker opens his own link URL (so holds the cookie and the session) and stops at Google
    attacker = UserFactory(email="mallory@attacker.example", email_verified_at=clock.now())
    attacker_browser = bearer(login(attacker.email)["access_token"])
    started = attacker_browser.get(local(attacker_browser.get(LINK).json()["redirect_url"]))
    assert started.status_code == 302 and "state=" in started["Location"]
    victim_google = google.sign_in(GoogleAccount(email="victim@gmail.example"))

    # when: the victim is sent to Google's consent page and Google sends *her* browser back
    back_to_us = google.consent(started["Location"])
    response = APIClient().get(local(back_to_us))

    # then
    assert frontend_fragment(response)["error"] in {"invalid_state", "link_invalid"}
    assert not SocialAccount.objects.filter(uid=victim_google.sub).exists()


def test_the_link_callback_needs_the_binding_cookie_of_its_start(google):
    # given: the link started in the right browser, then the cookie is gone (another profile, stolen session)
    google.sign_in(GoogleAccount(email="someone@gmail.example"))
    browser = bearer(login(UserFactory(email_verified_at=clock.now()).email)["access_token"])
    started = browser.get(local(browser.get(LINK).json()["redirect_url"]))
    back_to_us = google.consent(started["Location"])
    del browser.cookies["google_link"]

    # when
    response = browser.get(local(back_to_us))

    # then
    assert frontend_fragment(response) == {"error": "link_invalid"}
    assert not SocialAccount.objects.exists()


def test_login_csrf_the_attackers_callback_url_is_refused_in_the_victims_browser(google):
    # given: the attacker starts a Google sign-in with his own Google account and stops before our callback
    google.sign_in(GoogleAccount(email="mallory@gmail.example"))
    back_to_us = google.consent(APIClient().get(START)["Location"])

    # when: the victim's browser is made to load that callback URL
    response = APIClient().get(local(back_to_us))

    # then: state is bound to the session of the browser that started: no tokens
    fragment = frontend_fragment(response)
    assert fragment == {"error": "invalid_state"} and "access_token" not in fragment
    assert not User.objects.filter(email="mallory@gmail.example").exists()


def test_link_cookie_is_httponly_lax_and_short_lived(auth_client):
    response = auth_client.get(LINK)

    cookie = response.cookies["google_link"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert 0 < int(cookie["max-age"]) <= 600
    assert cookie.value not in response.content.decode()


# --- 3. impersonation that outlives itself ------------------------------------------------------------


@pytest.fixture
def impersonated():
    """Staff (MFA) impersonating the owner of an org: (owner, org, client with the impersonation token)."""
    staff = UserFactory(is_staff=True)
    owner = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=owner, role="owner")
    staff_pair = session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True)
    _, pair = impersonation_start(
        actor=Actor(principal=Principal.from_claims(staff, AccessToken(staff_pair.access_token).payload)), user_id=owner.id, reason="ticket 4521"
    )
    assert AccessToken(pair.access_token)["act"]["sub"] == str(staff.id)
    return owner, organization, bearer(pair.access_token)


def _refused_routes(organization, owner):
    org = f"/api/v1/orgs/{organization.id}"
    return [
        ("get", "/api/v1/auth/link/google", None),
        ("delete", "/api/v1/auth/unlink/google", None),
        ("post", "/api/v1/auth/password/change", {"current_password": DEFAULT_PASSWORD, "new_password": "Br4nd-new-passphrase"}),
        ("post", "/api/v1/auth/mfa/totp/enroll", None),
        ("post", "/api/v1/auth/mfa/totp/confirm", {"code": "123456"}),
        ("post", "/api/v1/auth/mfa/backup-codes/regenerate", {"code": "123456"}),
        ("delete", "/api/v1/auth/mfa/totp", {"code": "123456"}),
        ("post", "/api/v1/auth/email/resend", None),
        ("post", "/api/v1/auth/logout", None),
        ("post", "/api/v1/auth/logout-all", None),
        ("delete", f"/api/v1/auth/sessions/{UserSession.objects.filter(user=owner).first().id}", None),
        ("post", f"{org}/api-keys", {"name": "backdoor", "scopes": ["org:read"]}),
        ("post", f"{org}/invites", {"email": "staff-friend@example.com", "role": "admin"}),
        ("post", "/api/v1/invites/some-code/accept", None),
        ("post", "/api/v1/invites/some-code/decline", None),
        ("post", "/api/v1/orgs", {"name": "Staff's own org"}),
        ("post", "/api/v1/auth/setup-organization", {"organization_name": "Another"}),
        ("delete", "/api/v1/users/me", {"password": DEFAULT_PASSWORD}),
        ("post", "/api/v1/staff/impersonate", {"user_id": str(owner.id), "reason": "chain"}),
        ("post", "/api/v1/integrations/connect", {"provider": "slack", "credentials": {"token": "x"}}),
        ("get", "/api/v1/integrations/oauth/gmail/start", None),
    ]


def test_an_impersonation_token_cannot_touch_credentials_identities_keys_invites_or_the_account(impersonated):
    owner, organization, client = impersonated
    for method, path, body in _refused_routes(organization, owner):
        # when
        response = getattr(client, method)(path, body, format="json", HTTP_X_ORG_ID=str(organization.id))

        # then
        assert response.status_code == 403, (method, path, response.content)
        assert code_of(response) == "INSUFFICIENT_PERMISSIONS", (method, path)
    assert not OneTimeToken.objects.filter(user=owner, purpose=OneTimeToken.Purpose.OAUTH_LINK).exists()
    assert not TOTPDevice.objects.filter(user=owner).exists()
    assert Membership.objects.filter(user=owner).count() == 1
    assert User.objects.filter(id=owner.id).exists()
    from permissions.models import ApiKey

    assert not ApiKey.objects.filter(organization=organization).exists()


def test_an_impersonation_token_still_reads_and_acts_on_org_resources(impersonated):
    owner, organization, client = impersonated

    assert client.get("/api/v1/users/me").status_code == 200
    assert client.get(f"/api/v1/orgs/{organization.id}/members").status_code == 200
    renamed = client.patch(f"/api/v1/orgs/{organization.id}", {"name": "Fixed by support"}, format="json")
    team = client.post(f"/api/v1/orgs/{organization.id}/teams", {"name": "Support"}, format="json")

    assert renamed.status_code == 200, renamed.content
    assert team.status_code == 201, team.content
    assert AuditEvent.objects.filter(action="org.updated", impersonator_id__isnull=False).exists()


def test_the_stop_route_stays_open_to_an_impersonation_token(impersonated, django_capture_on_commit_callbacks):
    owner, organization, client = impersonated

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/staff/impersonate/stop")

    assert response.status_code == 204
    assert client.get("/api/v1/users/me").status_code == 401


def test_the_allow_list_refuses_unlisted_unsafe_routes_and_side_effect_reads():
    from accounts.impersonation import impersonation_allows

    assert impersonation_allows(view_name="orgs:teams", method="POST")
    assert impersonation_allows(view_name="orgs:api-keys", method="GET")
    assert not impersonation_allows(view_name="orgs:api-keys", method="POST")
    assert not impersonation_allows(view_name="auth:link-google", method="GET")
    assert not impersonation_allows(view_name="users:me", method="DELETE")
    assert not impersonation_allows(view_name="some:future-route", method="POST")
    assert not impersonation_allows(view_name=None, method="PATCH")


def test_a_normal_token_is_not_limited_by_the_impersonation_allow_list(auth_client):
    assert auth_client.get(LINK).status_code == 200
    assert auth_client.post("/api/v1/auth/mfa/totp/enroll").status_code == 200


# --- 10. enabling MFA revokes the other sessions ------------------------------------------------------


def test_enabling_mfa_revokes_every_other_session(auth_client, django_capture_on_commit_callbacks):
    # given: a session opened with the password alone elsewhere (say, by whoever learnt the password)
    other = bearer(login(auth_client.user.email)["access_token"])
    assert other.get("/api/v1/users/me").status_code == 200
    enrolled = auth_client.post("/api/v1/auth/mfa/totp/enroll").json()
    device = TOTPDevice.objects.get(user=auth_client.user, confirmed=False)
    assert enrolled["secret"]

    # when
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = auth_client.post("/api/v1/auth/mfa/totp/confirm", {"code": totp_now(device)}, format="json")

    # then
    assert confirmed.status_code == 200, confirmed.content
    refused = other.get("/api/v1/users/me")
    assert refused.status_code == 401 and code_of(refused) == "TOKEN_INVALID"
    assert auth_client.get("/api/v1/users/me").status_code == 200  # the confirming session stays
    current = AccessToken(auth_client.tokens["access_token"])["sid"]
    revoked = AuditEvent.objects.filter(action="session.revoked", metadata__reason="mfa_enabled")
    assert revoked.count() == 1 and revoked.get().target_id != current
    assert AuditEvent.objects.get(action="mfa.enabled").metadata["sessions_revoked"] == 1


def test_a_spent_password_reset_token_proves_the_mailbox_and_reclaims_a_squatted_account(mailoutbox, django_capture_on_commit_callbacks):
    """The real owner of a squatted address resets the password through their mailbox: the squatter's
    sessions die, the account is verified (the reset link went only to that address), and the
    squatter's password no longer opens it."""
    squatted = UserFactory(email="ceo@victim.example")
    assert squatted.email_verified_at is None
    squatter_tokens = login_tokens(APIClient(), squatted.email)
    owner = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        owner.post("/api/v1/auth/password/reset-request", {"email": squatted.email}, format="json")
    secret = re.search(r"token=([A-Za-z0-9_\-]+)", mailoutbox[-1].body).group(1)
    done = owner.post("/api/v1/auth/password/reset", {"token": secret, "new_password": "The-real-0wner-passphrase"}, format="json")
    assert done.status_code == 204, done.content

    squatted = User.objects.get(id=squatted.id)
    assert squatted.email_verified_at is not None
    assert not UserSession.objects.filter(user=squatted, revoked_at__isnull=True).exists()
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {squatter_tokens['access_token']}")
    assert stale.get("/api/v1/users/me").status_code == 401
    assert APIClient().post("/api/v1/auth/login", {"email": squatted.email, "password": "S3cure-passphrase!"}, format="json").status_code == 401
