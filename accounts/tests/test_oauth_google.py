"""Google sign-in, linking and unlinking through allauth, against a local fake of Google over HTTP."""

import time
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialAccount
from django.conf import settings as django_settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import User, UserSession
from accounts.tests.factories import UserFactory
from accounts.tests.fake_google import (
    AUTHORIZE_PATH,
    CERTS_PATH,
    ISSUER,
    JWKS_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    FakeGoogle,
    GoogleAccount,
)
from audit.models import AuditEvent
from core import clock

START = "/api/v1/auth/google"
LINK = "/api/v1/auth/link/google"
UNLINK = "/api/v1/auth/unlink/google"


@pytest.fixture(autouse=True)
def _linking_needs_a_verified_email(request):
    """Linking is for accounts whose e-mail is proved (invariant 3): the signed-in `user` here is verified."""
    if "user" in request.fixturenames:
        from accounts.models import User
        from core import clock as _clock

        user = request.getfixturevalue("user")
        User.objects.filter(id=user.id).update(email_verified_at=_clock.now())
        user.refresh_from_db()


ME = "/api/v1/users/me"
MFA_VERIFY = "/api/v1/auth/mfa/verify"
REDIRECT_URI = "http://testserver/api/v1/auth/google/callback"


@pytest.fixture(scope="session")
def google_server():
    """One fake Google for the whole run (generating its RSA key takes a moment)."""
    app = django_settings.SOCIALACCOUNT_PROVIDERS["google"]["APP"]
    fake = FakeGoogle(client_id=app["client_id"], client_secret=app["secret"], redirect_uris={REDIRECT_URI})
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def google(google_server, settings, db) -> FakeGoogle:
    """The fake Google, reset, with allauth's Google endpoints pointed at it."""
    google_server.reset()
    providers = settings.SOCIALACCOUNT_PROVIDERS
    settings.SOCIALACCOUNT_PROVIDERS = {
        **providers,
        "google": {**providers["google"], **google_server.provider_settings()},
    }
    return google_server


@pytest.fixture
def ada(google) -> GoogleAccount:
    """Ada, signed in to Google in the browser."""
    return google.sign_in(GoogleAccount(email="ada@example.com", given_name="Ada", family_name="Lovelace"))


def frontend_fragment(response) -> dict:
    """The `#...` parameters of a redirect to the front end's OAuth landing page."""
    assert response.status_code == 302, response.content
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{django_settings.FRONTEND_URL}/auth/callback"
    assert url.query == ""
    return dict(parse_qsl(url.fragment))


def local(url: str) -> str:
    """The path and query of an absolute URL of this server."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
def round_trip(google, django_capture_on_commit_callbacks):
    """Drive a browser through our start URL, Google's consent page and our callback."""

    def run(browser: APIClient | None = None, start: str = START) -> dict:
        browser = browser or APIClient()
        started = browser.get(start)
        assert started.status_code == 302, started.content
        back_to_us = google.consent(started["Location"])
        assert back_to_us.startswith(REDIRECT_URI + "?")
        with django_capture_on_commit_callbacks(execute=True):
            fragment = frontend_fragment(browser.get(local(back_to_us)))
        # The API is token-based: no Django session may stay signed in after the round trip.
        assert "_auth_user_id" not in browser.session
        return fragment

    return run


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def totp_now(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


# --- start ---------------------------------------------------------------------------------


def test_start_redirects_to_google_consent_with_state_and_pkce(google):
    # when
    response = APIClient().get(START, {"scope": "https://www.googleapis.com/auth/drive"})

    # then
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == google.base_url + AUTHORIZE_PATH
    params = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert params["client_id"] == "test-google-client-id"
    assert params["redirect_uri"] == REDIRECT_URI
    assert params["response_type"] == "code"
    assert set(params["scope"].split()) == {"openid", "email", "profile"}  # the query cannot widen it
    assert params["access_type"] == "online"
    assert len(params["state"]) >= 16
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43


# --- sign-in -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_token_mode", "userinfo_calls"),
    [("full", 0), ("no_picture", 1), ("none", 1)],
    ids=["id_token", "id_token_then_userinfo_for_picture", "userinfo_only"],
)
def test_first_google_sign_in_creates_the_user_and_hands_tokens_to_the_front_end(google, ada, round_trip, id_token_mode, userinfo_calls):
    # given
    google.id_token_mode = id_token_mode

    # when
    fragment = round_trip()

    # then
    assert set(fragment) == {"access_token", "refresh_token", "token_type", "expires_in", "needs_org_setup"}
    assert fragment["token_type"] == "bearer"
    assert int(fragment["expires_in"]) > 0
    assert fragment["needs_org_setup"] == "true"
    token_request = google.hits(TOKEN_PATH)[0]
    assert token_request["redirect_uri"] == REDIRECT_URI
    assert token_request["code_verifier"]  # PKCE: the fake checked it against the challenge
    assert len(google.hits(USERINFO_PATH)) == userinfo_calls

    me = bearer(fragment["access_token"]).get(ME)
    assert me.status_code == 200, me.content
    body = me.json()
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Lovelace"
    assert body["avatar_url"] == ada.picture
    assert body["email_verified"] is True
    assert body["linked_providers"] == ["google"]
    assert body["has_password"] is False
    assert body["needs_org_setup"] is True

    user = User.objects.get(email="ada@example.com")
    assert SocialAccount.objects.get(user=user).uid == ada.sub
    assert UserSession.objects.get(user=user).auth_method == "google"
    actions = set(AuditEvent.objects.filter(actor_id=user.id).values_list("action", flat=True))
    assert {"user.registered", "user.logged_in"} <= actions


def test_refresh_token_from_google_sign_in_works(ada, round_trip):
    fragment = round_trip()

    response = APIClient().post("/api/v1/auth/refresh", {"refresh_token": fragment["refresh_token"]}, format="json")

    assert response.status_code == 200, response.content


def test_unverified_google_email_creates_an_unverified_user(google, round_trip):
    google.sign_in(GoogleAccount(email="nobody@example.com", email_verified=False))

    fragment = round_trip()

    assert "access_token" in fragment
    assert User.objects.get(email="nobody@example.com").email_verified_at is None


def test_google_account_without_email_is_refused(google, round_trip):
    google.sign_in(GoogleAccount(email=""))

    assert round_trip() == {"error": "email_missing"}
    assert not User.objects.exists()


def test_returning_google_user_signs_in_to_the_same_account(ada, round_trip):
    first = round_trip()
    second = round_trip()

    first_id = bearer(first["access_token"]).get(ME).json()["id"]
    assert bearer(second["access_token"]).get(ME).json()["id"] == first_id
    assert SocialAccount.objects.count() == 1
    assert User.objects.count() == 1


def test_existing_user_with_the_same_verified_email_gets_google_connected(google, round_trip):
    # given
    user = UserFactory(email="grace@example.com", email_verified_at=clock.now())
    google.sign_in(GoogleAccount(email="Grace@Example.com"))

    # when
    fragment = round_trip()

    # then
    body = bearer(fragment["access_token"]).get(ME).json()
    assert body["id"] == str(user.id)
    assert body["linked_providers"] == ["google"]
    assert body["has_password"] is True
    assert User.objects.count() == 1
    assert AuditEvent.objects.filter(action="user.provider_linked", actor_id=user.id).exists()


@pytest.mark.parametrize(("local_verified", "google_verified"), [(False, True), (True, False)], ids=["local_unverified", "google_unverified"])
def test_account_with_the_same_email_is_not_connected_unless_both_sides_verified_it(google, round_trip, local_verified, google_verified):
    # given
    user = UserFactory(email="grace@example.com", email_verified_at=clock.now() if local_verified else None)
    google.sign_in(GoogleAccount(email="grace@example.com", email_verified=google_verified))

    # when
    fragment = round_trip()

    # then
    assert fragment == {"error": "account_exists"}
    assert not SocialAccount.objects.exists()
    user.refresh_from_db()
    assert user.has_usable_password()
    assert not UserSession.objects.exists()


def test_inactive_user_gets_an_error_and_no_tokens(google, round_trip):
    user = UserFactory(email="grace@example.com", email_verified_at=clock.now(), is_active=False)
    google.sign_in(GoogleAccount(email="grace@example.com"))

    fragment = round_trip()

    assert fragment == {"error": "account_inactive"}
    assert not UserSession.objects.filter(user=user).exists()


def test_user_with_mfa_gets_a_challenge_instead_of_tokens(google, round_trip):
    # given
    user = UserFactory(email="grace@example.com", email_verified_at=clock.now())
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    google.sign_in(GoogleAccount(email="grace@example.com"))

    # when
    fragment = round_trip()

    # then
    assert set(fragment) == {"status", "mfa_token"}
    assert fragment["status"] == "mfa_required"
    assert not UserSession.objects.filter(user=user).exists()
    answer = {"mfa_token": fragment["mfa_token"], "code": totp_now(device)}
    verified = APIClient().post(MFA_VERIFY, answer, format="json")
    assert verified.status_code == 200, verified.content
    session = UserSession.objects.get(user=user)
    assert session.auth_method == "google"
    assert session.mfa_verified is True


# --- errors --------------------------------------------------------------------------------


def test_callback_with_a_forged_state_is_refused(ada, google):
    # given
    browser = APIClient()
    back_to_us = google.consent(browser.get(START)["Location"])
    query = dict(parse_qsl(urlsplit(back_to_us).query))

    # when
    response = browser.get(urlsplit(REDIRECT_URI).path, {**query, "state": "forged-state-value"})

    # then
    assert frontend_fragment(response) == {"error": "invalid_state"}
    assert google.hits(TOKEN_PATH) == []
    assert not User.objects.exists()


def test_callback_without_state_is_refused(google):
    response = APIClient().get(urlsplit(REDIRECT_URI).path, {"code": "4/0Aanything"})

    assert frontend_fragment(response) == {"error": "invalid_state"}


def test_callback_in_another_browser_is_refused(ada, google):
    # given: the state lives in the session of the browser that started
    back_to_us = google.consent(APIClient().get(START)["Location"])

    # when
    response = APIClient().get(local(back_to_us))

    # then
    assert frontend_fragment(response) == {"error": "invalid_state"}


def test_replayed_callback_is_refused(ada, google):
    # given
    browser = APIClient()
    back_to_us = google.consent(browser.get(START)["Location"])
    assert "access_token" in frontend_fragment(browser.get(local(back_to_us)))

    # when
    replay = browser.get(local(back_to_us))

    # then
    assert frontend_fragment(replay) == {"error": "invalid_state"}
    assert len(google.hits(TOKEN_PATH)) == 1


def test_denied_consent_is_reported(ada, google, round_trip):
    google.deny_consent = True

    assert round_trip() == {"error": "access_denied"}
    assert google.hits(TOKEN_PATH) == []


def test_token_endpoint_error_is_reported(ada, google, round_trip):
    # given
    google.token_error = "invalid_grant"

    # when
    fragment = round_trip()

    # then
    assert fragment == {"error": "exchange_failed"}
    assert len(google.hits(TOKEN_PATH)) == 1
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [{"aud": "another-client-id"}, {"iss": "https://evil.example"}, {"exp": 1_000_000_000}],
    ids=["foreign_audience", "foreign_issuer", "expired"],
)
def test_id_token_that_is_not_for_us_is_refused(ada, google, round_trip, overrides):
    google.id_token_overrides = overrides

    assert round_trip() == {"error": "exchange_failed"}
    assert not User.objects.exists()


def test_provider_error_is_reported(ada, google):
    browser = APIClient()
    state = parse_qs(urlsplit(browser.get(START)["Location"]).query)["state"][0]

    response = browser.get(urlsplit(REDIRECT_URI).path, {"state": state, "error": "server_error"})

    assert frontend_fragment(response) == {"error": "provider_error"}


# --- linking -------------------------------------------------------------------------------


def test_link_google_to_a_password_account(auth_client, google, round_trip):
    # given
    google.sign_in(GoogleAccount(email="private@example.org"))
    response = auth_client.get(LINK)
    assert response.status_code == 200, response.content
    redirect_url = response.json()["redirect_url"]
    assert redirect_url.startswith("http://testserver/api/v1/auth/google?token=")

    # when: the same browser navigates to the URL (the JWT is not used there; the binding cookie is)
    fragment = round_trip(browser=auth_client, start=local(redirect_url))

    # then
    assert fragment == {"linked": "google"}
    body = auth_client.get(ME).json()
    assert body["linked_providers"] == ["google"]
    assert body["has_password"] is True
    assert AuditEvent.objects.filter(action="user.provider_linked", actor_id=auth_client.user.id).exists()
    signed_in = round_trip()
    assert bearer(signed_in["access_token"]).get(ME).json()["id"] == str(auth_client.user.id)


def test_link_url_works_once(auth_client, google, round_trip):
    google.sign_in(GoogleAccount(email="private@example.org"))
    redirect_url = auth_client.get(LINK).json()["redirect_url"]
    binding_cookie = auth_client.cookies["google_link"].value
    round_trip(browser=auth_client, start=local(redirect_url))
    auth_client.cookies["google_link"] = binding_cookie  # even with its binding, the URL is spent

    response = auth_client.get(local(redirect_url))

    assert frontend_fragment(response) == {"error": "link_invalid"}


def test_link_google_account_of_another_user_is_refused(auth_client, google, round_trip):
    # given
    account = google.sign_in(GoogleAccount(email="shared@example.org"))
    other = UserFactory()
    SocialAccount.objects.create(user=other, provider="google", uid=account.sub)
    redirect_url = auth_client.get(LINK).json()["redirect_url"]

    # when
    fragment = round_trip(browser=auth_client, start=local(redirect_url))

    # then
    assert fragment == {"error": "account_linked_elsewhere"}
    assert SocialAccount.objects.get(uid=account.sub).user == other
    assert not SocialAccount.objects.filter(user=auth_client.user).exists()


def test_link_requires_authentication(api_client, db):
    response = api_client.get(LINK)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


# --- unlinking -----------------------------------------------------------------------------


def test_unlink_is_refused_when_google_is_the_only_way_to_sign_in(ada, round_trip):
    client = bearer(round_trip()["access_token"])

    response = client.delete(UNLINK)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "provider" in error["details"]
    assert client.get(ME).json()["linked_providers"] == ["google"]


def test_unlink_google_from_an_account_with_a_password(auth_client):
    SocialAccount.objects.create(user=auth_client.user, provider="google", uid="123456789012345678901")

    response = auth_client.delete(UNLINK)

    assert response.status_code == 204
    assert auth_client.get(ME).json()["linked_providers"] == []
    assert AuditEvent.objects.filter(action="user.provider_unlinked", actor_id=auth_client.user.id).exists()


def test_unlink_a_provider_that_is_not_linked(auth_client):
    response = auth_client.delete(UNLINK)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_unlink_requires_authentication(api_client, db):
    response = api_client.delete(UNLINK)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


# --- the fake itself -----------------------------------------------------------------------


def test_fake_signs_id_tokens_with_its_published_keys(google, ada):
    token = google.id_token(ada, ["openid", "email"], access_token="ya29.test")

    published = [(CERTS_PATH, jwtkit.lookup_kid_pem_x509_certificate), (JWKS_PATH, jwtkit.lookup_kid_jwk)]
    for path, lookup in published:
        claims = jwtkit.verify_and_decode(
            credential=token,
            keys_url=google.base_url + path,
            issuer=ISSUER,
            audience=google.client_id,
            lookup_kid=lookup,
        )
        assert claims["sub"] == ada.sub
        assert claims["email_verified"] is True
