"""Google sign-in through django-allauth for API clients.

allauth runs the OAuth round trip (state, PKCE, code exchange, id_token/userinfo); the adapters
here turn its outcome into a redirect to the front end carrying the API's own tokens, an MFA
challenge, a "linked" notice or an error code. No Django session outlives the round trip.
"""

import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlencode

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from allauth.socialaccount.providers.base.constants import AuthError, AuthProcess
from allauth.socialaccount.providers.google import views as google_views
from allauth.socialaccount.providers.google.provider import GoogleProvider
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from allauth.utils import build_absolute_uri
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import mfa, selectors, services, sessions
from accounts.models import OneTimeToken, User
from accounts.tokens import hash_secret, random_secret
from audit.services import event_record
from core import clock, hooks
from core.actor import Actor, actor_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError, validation_error

logger = logging.getLogger(__name__)

GOOGLE = GoogleProvider.id
LINK_TOKEN_LIFETIME = timedelta(minutes=10)
CALLBACK_URL_NAME = "auth:google-callback"
START_URL_NAME = "auth:google"
LINK_COOKIE = "google_link"
LINK_COOKIE_SALT = "accounts.oauth.google-link"


class OAuthError(StrEnum):
    """Codes the front end receives as `#error=<code>`."""

    ACCESS_DENIED = "access_denied"
    INVALID_STATE = "invalid_state"
    PROVIDER_ERROR = "provider_error"
    EXCHANGE_FAILED = "exchange_failed"
    SIGN_IN_FAILED = "sign_in_failed"
    EMAIL_MISSING = "email_missing"
    ACCOUNT_EXISTS = "account_exists"
    ACCOUNT_INACTIVE = "account_inactive"
    ACCOUNT_LINKED_ELSEWHERE = "account_linked_elsewhere"
    LINK_INVALID = "link_invalid"
    SSO_REQUIRED = "sso_required"


# --- redirects to the front end ------------------------------------------------------------


def frontend_redirect(**fragment) -> HttpResponseRedirect:
    """Send the browser to the front end's OAuth landing page with `fragment` after the `#`."""
    # Why a fragment: browsers never send it to any server (nor in Referer), so tokens stay client-side.
    return HttpResponseRedirect(f"{frontend_callback_url()}#{urlencode(fragment)}")


def frontend_callback_url() -> str:
    """The front end's OAuth landing page."""
    return f"{settings.FRONTEND_URL}/auth/callback"


def error_redirect(code: OAuthError) -> HttpResponseRedirect:
    """Send the browser to the front end with `#error=<code>`."""
    return frontend_redirect(error=str(code))


def _lands_on_frontend(response: HttpResponse) -> bool:
    return response.status_code == 302 and response["Location"].startswith(f"{frontend_callback_url()}#")


# --- allauth's Google provider, pointed at this API ----------------------------------------


def _google_setting(name: str, default: str) -> str:
    return settings.SOCIALACCOUNT_PROVIDERS.get(GOOGLE, {}).get(name, default)


class GoogleApiOAuth2Adapter(google_views.GoogleOAuth2Adapter):
    """allauth's Google adapter, calling back to the API and reading Google's endpoints at call time."""

    @property
    def authorize_url(self) -> str:
        return _google_setting("AUTHORIZE_URL", google_views.AUTHORIZE_URL)

    @property
    def access_token_url(self) -> str:
        return _google_setting("ACCESS_TOKEN_URL", google_views.ACCESS_TOKEN_URL)

    @property
    def identity_url(self) -> str:
        return _google_setting("IDENTITY_URL", google_views.IDENTITY_URL)

    def get_callback_url(self, request: HttpRequest, app) -> str:
        return build_absolute_uri(request, reverse(CALLBACK_URL_NAME), self.redirect_uri_protocol)


class GoogleApiProvider(GoogleProvider):
    """allauth's Google provider, redirecting through the API's adapter."""

    oauth2_adapter_class = GoogleApiOAuth2Adapter


def _google_provider(request: HttpRequest) -> GoogleApiProvider:
    app = get_social_adapter(request).get_app(request, provider=GOOGLE)
    return GoogleApiProvider(request, app=app)


_allauth_google_callback = OAuth2CallbackView.adapter_view(GoogleApiOAuth2Adapter)


# --- the round trip ------------------------------------------------------------------------


def google_login_start(*, request: HttpRequest) -> HttpResponse:
    """Redirect to Google's consent page to sign in (allauth stashes state and the PKCE verifier)."""
    # Scope and auth params come from settings only, never from the query string.
    return _google_provider(request).redirect(request, process=AuthProcess.LOGIN)


def google_link_start(*, request: HttpRequest, token: str) -> HttpResponse:
    """Redirect to Google's consent page to link Google to the account that asked for `token`.

    Only the browser that received the link URL (it holds the binding cookie set with it) may
    open it: anyone else gets `#error=link_invalid`, and the token is left unspent.
    """
    pending = OneTimeToken.objects.filter(token_hash=hash_secret(token or ""), purpose=OneTimeToken.Purpose.OAUTH_LINK).first()
    binding = pending.data.get("binding") if pending is not None else None
    if not _binding_matches(request, binding):
        # Invariant 4: a link URL sent to someone else must not link *their* Google to the sender.
        return error_redirect(OAuthError.LINK_INVALID)
    try:
        spent = services.one_time_token_consume(secret=token, purpose=OneTimeToken.Purpose.OAUTH_LINK)
    except ApplicationError:
        return error_redirect(OAuthError.LINK_INVALID)
    user = spent.user
    if not user.is_active:
        return error_redirect(OAuthError.ACCOUNT_INACTIVE)
    # allauth's connect flow links to the user of the Django session; the browser carries no JWT.
    get_account_adapter(request).login(request, user)
    # Why: this session only carries the user through Google's consent and must not linger if abandoned.
    request.session.set_expiry(LINK_TOKEN_LIFETIME)
    data = {"organization_id": spent.data.get("organization_id"), "binding": binding}
    return _google_provider(request).redirect(request, process=AuthProcess.CONNECT, data=data)


def google_callback(*, request: HttpRequest) -> HttpResponse:
    """Finish the round trip through allauth; always land on the front end with no Django session left."""
    response = callback_finish(request=request, allauth_view=_allauth_google_callback, label="Google")
    if LINK_COOKIE in request.COOKIES:
        response.delete_cookie(LINK_COOKIE, path=_link_cookie_path(), samesite="Lax")
    return response


def callback_finish(*, request: HttpRequest, allauth_view, label: str, **view_kwargs) -> HttpResponse:
    """Run an allauth callback view; land on the front end (never an allauth page) with no Django session left.

    Shared by every provider allauth runs for the API (Google here, SSO connections in `sso`).
    """
    try:
        response = allauth_view(request, **view_kwargs)
    except ApplicationError as exc:
        logger.warning("%s sign-in refused: %s", label, exc.code)
        response = error_redirect(OAuthError.SIGN_IN_FAILED)
    if not _lands_on_frontend(response):
        # A path of allauth's we do not expect (a signup form, an HTML page): never show it to API clients.
        logger.warning("%s sign-in ended outside the front end (HTTP %s)", label, response.status_code)
        response = error_redirect(OAuthError.SIGN_IN_FAILED)
    # Why: the API is token-based; a signed-in session cookie would be a second, unmanaged credential.
    get_account_adapter(request).logout(request)
    return response


def token_redirect(*, actor: Actor, user: User, auth_method: str = GOOGLE, organization_id=None) -> HttpResponse:
    """Open the API session of a completed provider sign-in and send its tokens to the front end."""
    pair = sessions.login_complete(user=user, actor=actor, organization_id=organization_id, mfa_verified=False, auth_method=auth_method)
    context = selectors.user_organization_context(user=user, organization_id=pair.session.organization_id)
    return frontend_redirect(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="bearer",
        expires_in=pair.expires_in,
        needs_org_setup=str(context["needs_org_setup"]).lower(),
    )


# --- linking and unlinking -----------------------------------------------------------------


@dataclass(frozen=True)
class GoogleLink:
    """A link URL and the browser binding that must travel with it (set by `link_binding_set`)."""

    url: str
    binding: str


def google_link_url_issue(*, user: User, start_url: str, organization_id=None) -> GoogleLink:
    """Return the URL a browser opens to link Google to `user` (short-lived, single use) and its binding.

    `start_url` is the absolute URL of the Google start endpoint (`START_URL_NAME`).

    The binding goes to the caller's browser as an HttpOnly cookie (`link_binding_set`) and is
    required by both the start and the callback, so the URL works only in the browser that asked.
    """
    if user.email_verified_at is None:
        # An unproved address may belong to someone else: an identity linked now would open the
        # account once its real owner proves the mailbox (API.md v1.1 invariant 3).
        raise ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message="Verify your e-mail address before linking an account.", status_code=403)
    binding = random_secret()
    secret = services.one_time_token_issue(
        user=user,
        purpose=OneTimeToken.Purpose.OAUTH_LINK,
        lifetime=LINK_TOKEN_LIFETIME,
        # Only the hash is stored: a database reader cannot forge the cookie.
        data={"organization_id": str(organization_id) if organization_id else None, "binding": hash_secret(binding)},
    )
    return GoogleLink(url=f"{start_url}?{urlencode({'token': secret})}", binding=binding)


def _link_cookie_path() -> str:
    # The common prefix of link/google, google and google/callback (e.g. /api/v1/auth/).
    return reverse(START_URL_NAME).rsplit("/", 1)[0] + "/"


def link_binding_set(response: HttpResponse, binding: str) -> None:
    """Give the browser that asked for a link URL the cookie that binds the link flow to it."""
    response.set_signed_cookie(
        LINK_COOKIE,
        binding,
        salt=LINK_COOKIE_SALT,
        max_age=int(LINK_TOKEN_LIFETIME.total_seconds()),
        path=_link_cookie_path(),
        secure=settings.SESSION_COOKIE_SECURE,
        # HttpOnly: no script reads it; Lax: sent on the top-level navigation to the start URL and on
        # Google's redirect back, never on a cross-site subrequest.
        httponly=True,
        samesite="Lax",
    )


def _binding_matches(request: HttpRequest, binding_hash) -> bool:
    cookie = request.get_signed_cookie(LINK_COOKIE, default=None, salt=LINK_COOKIE_SALT, max_age=int(LINK_TOKEN_LIFETIME.total_seconds()))
    if not cookie or not binding_hash:
        return False
    return hmac.compare_digest(hash_secret(cookie), str(binding_hash))


def social_account_connect(*, request: HttpRequest, sociallogin: SocialLogin, user: User, organization_id=None) -> None:
    """Attach the provider account of `sociallogin` to `user` (allauth needs the HTTP request) and record it."""
    sociallogin.connect(request, user)
    event_record(
        action="user.provider_linked",
        actor=actor_of(request).as_user(user),
        target=user,
        organization_id=organization_id or hooks.default_organization(user=user),
        metadata={"provider": sociallogin.account.provider},
    )


@transaction.atomic
def social_account_unlink(*, user: User, provider: str, actor: Actor, organization_id=None) -> None:
    """Unlink a sign-in provider; refuse when it is the account's last way to sign in."""
    accounts = SocialAccount.objects.filter(user=user)
    linked = accounts.filter(provider=provider)
    if not linked.exists():
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="This sign-in method is not linked to your account.", status_code=404)
    if not user.has_usable_password() and not accounts.exclude(provider=provider).exists():
        raise validation_error("provider", "This is your only way to sign in: set a password or link another provider first.")
    linked.delete()
    event_record(
        action="user.provider_unlinked",
        actor=actor,
        target=user,
        organization_id=organization_id,
        metadata={"provider": provider},
    )


# --- allauth adapters ----------------------------------------------------------------------


def _is_social_login(hook_kwargs: dict) -> bool:
    return (hook_kwargs.get("signal_kwargs") or {}).get("sociallogin") is not None


class AccountAdapter(DefaultAccountAdapter):
    """Account adapter: allauth only signs people in through Google; the API then issues its tokens."""

    def add_message(self, *args, **kwargs) -> None:
        """Drop allauth's flash messages: the API has no pages to show them on."""

    def pre_login(self, request: HttpRequest, user: User, **kwargs) -> HttpResponse | None:
        """Stop a Google sign-in of a disabled account, of one SSO must sign in, or of one that needs its second factor."""
        if not _is_social_login(kwargs):
            return super().pre_login(request, user, **kwargs)
        if user.is_active and sessions.sso_required(user=user):
            # An org enforcing SSO for this address: Google is a way around its IdP too.
            return error_redirect(OAuthError.SSO_REQUIRED)
        return social_sign_in_gate(user=user, auth_method=GOOGLE)

    def post_login(self, request: HttpRequest, user: User, **kwargs) -> HttpResponse:
        """Answer a completed Google sign-in with the API's token pair instead of a page."""
        response = super().post_login(request, user, **kwargs)
        if not _is_social_login(kwargs):
            return response
        return token_redirect(actor=actor_of(request), user=user)


def social_sign_in_gate(*, user: User, auth_method: str, organization_id=None) -> HttpResponse | None:
    """Stop a provider sign-in of a disabled account, or answer with the MFA challenge it still needs."""
    if not user.is_active:
        return error_redirect(OAuthError.ACCOUNT_INACTIVE)
    if mfa.mfa_enabled(user=user):
        # Why: the provider proves the first factor only; tokens wait for the code at `auth/mfa/verify`.
        challenge = mfa.challenge_issue(user=user, organization_id=organization_id, auth_method=auth_method)
        return frontend_redirect(status="mfa_required", mfa_token=challenge)
    return None


def _email_of(sociallogin: SocialLogin) -> str | None:
    email = sociallogin.user.email if sociallogin.user else None
    return User.objects.normalize_email(email) or None


def _google_verified(sociallogin: SocialLogin, email: str) -> bool:
    return any(a.verified and a.email.lower() == email for a in sociallogin.email_addresses)


def _abort(code: OAuthError):
    raise ImmediateHttpResponse(error_redirect(code))


def _error_code(error, exception, extra_context: dict) -> OAuthError:
    if error == AuthError.CANCELLED:
        return OAuthError.ACCESS_DENIED
    if exception is not None:
        return OAuthError.EXCHANGE_FAILED
    if extra_context.get("state") is None:
        return OAuthError.INVALID_STATE
    return OAuthError.PROVIDER_ERROR


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Social account adapter: maps Google identities to local accounts and answers with redirects."""

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None) -> None:
        """Turn any failure of the round trip into `#error=<code>` on the front end."""
        if exception is not None:
            logger.warning("Social sign-in failed (%s): %s: %s", getattr(provider, "id", provider), type(exception).__name__, exception)
        _abort(_error_code(error, exception, extra_context or {}))

    def authenticate_by_email(self, sociallogin: SocialLogin):
        """Leave email matching to `pre_social_login`, which trusts our own `email_verified_at`."""
        # allauth's version trusts its EmailAddress table (not kept here) and wipes passwords.
        return None

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Map the Google identity to a local account before allauth signs in, signs up or links."""
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            self._link_to_session_user(request, sociallogin)
        elif not sociallogin.is_existing:
            self._match_by_email(request, sociallogin)

    def _link_to_session_user(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        user = request.user
        if not user.is_authenticated:
            _abort(OAuthError.LINK_INVALID)
        if not _binding_matches(request, (sociallogin.state.get("data") or {}).get("binding")):
            # The round trip must end in the browser that asked for the link URL (invariant 4).
            _abort(OAuthError.LINK_INVALID)
        if sociallogin.is_existing:
            if sociallogin.user.pk != user.pk:
                # Moving it could leave the other account with no way to sign in.
                _abort(OAuthError.ACCOUNT_LINKED_ELSEWHERE)
            return
        # allauth has no hook after it connects; connecting here keeps the audit event beside the change
        # (allauth then finds an existing link and only refreshes it).
        organization_id = (sociallogin.state.get("data") or {}).get("organization_id")
        social_account_connect(request=request, sociallogin=sociallogin, user=user, organization_id=organization_id)

    def _match_by_email(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Connect a first Google sign-in to the local account of its email only when both sides verified it.

        An account whose email is not verified here (e.g. created by someone holding an invitation
        code for that address) is never linked nor taken over: the sign-in ends with
        `#error=account_exists` and nothing is created or linked. The mailbox owner proves it by
        email (password reset or verification link), then links Google from the signed-in account.
        """
        email = _email_of(sociallogin)
        if email is None:
            _abort(OAuthError.EMAIL_MISSING)
        user = User.objects.filter(email=email).first()
        if user is None:
            return
        if not user.is_active:
            _abort(OAuthError.ACCOUNT_INACTIVE)
        if not (_google_verified(sociallogin, email) and user.email_verified):
            # Why: linking on an email one side has not proven would hand the account to whoever
            # registered it (or whoever controls the Google account); such users link explicitly.
            _abort(OAuthError.ACCOUNT_EXISTS)
        if sessions.sso_required(user=user):
            _abort(OAuthError.SSO_REQUIRED)  # not even linked: the org's IdP is the only way in
        social_account_connect(request=request, sociallogin=sociallogin, user=user)

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict) -> User:
        """Fill a would-be user from Google's profile; the email counts as verified only if Google says so.

        Google marks an address verified only after proving the mailbox itself (a code mailed to it,
        or its own hosted mailbox), which is what invariant 3 asks of our own verification token.
        """
        user = super().populate_user(request, sociallogin, data)
        extra = sociallogin.account.extra_data or {}
        name = extra.get("name") or " ".join(filter(None, [data.get("first_name"), data.get("last_name")]))
        user.email = User.objects.normalize_email(user.email)
        limit = User._meta.get_field("full_name").max_length
        given, family = (data.get("first_name") or "").strip(), (data.get("last_name") or "").strip()
        if (given or family) and len(given) + len(family) < limit:
            names = services.user_names_resolve(first_name=given, last_name=family)
        else:
            names = services.user_names_resolve(full_name=name.strip()[:limit])
        for field, value in names.items():
            setattr(user, field, value)
        picture = extra.get("picture") or ""
        user.avatar_url = picture if len(picture) <= User._meta.get_field("avatar_url").max_length else ""
        user.email_verified_at = clock.now() if user.email and self.email_proven(sociallogin, user.email) else None
        return user

    def email_proven(self, sociallogin: SocialLogin, email: str) -> bool:
        """Whether the provider's word proves the mailbox of `email` (invariant 3): Google's `verified` does."""
        return _google_verified(sociallogin, email)

    def sign_in_method(self, sociallogin: SocialLogin) -> str:
        """The `method` recorded for the sign-in (`user.registered`, the session's `auth_method`)."""
        return GOOGLE

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form=None) -> User:
        """Create the account of a first provider sign-in (no usable password) and record it."""
        user = super().save_user(request, sociallogin, form=form)
        event_record(action="user.registered", actor=actor_of(request).as_user(user), target=user, metadata={"method": self.sign_in_method(sociallogin)})
        return user

    def get_connect_redirect_url(self, request: HttpRequest, socialaccount) -> str:
        """Send the browser back to the front end once the provider is linked."""
        return f"{frontend_callback_url()}#{urlencode({'linked': socialaccount.provider})}"
