"""Signing people in through an org's SSO connection (allauth runs the protocol; this decides who gets in).

The flow, for OIDC and SAML alike:
1. `POST auth/sso/start {email}|{organization_slug}` finds the connection through the org's
   verified domains and answers our `.../login` URL for the browser to open;
2. opening it makes allauth stash the state (OIDC: with PKCE verifier and our nonce; SAML: the
   AuthnRequest id) in *that browser's* session and redirects to the IdP;
3. the IdP returns to our callback (OIDC) or ACS (SAML); allauth checks the state, exchanges the
   code / validates the assertion, then the adapters below map the identity to an account:
   the asserted e-mail must be at one of the connection's domains, still verified by its org;
   an existing account is linked only if its own e-mail was verified here; a new account is
   created with the e-mail verified (the org proved it owns the domain) and JIT-provisioned as a
   member with the org's `default_role`; a suspended member is refused;
4. the browser lands on the front end with our tokens (session `auth_method="sso"`, access-token
   claim `amr: ["sso"]`) or an MFA challenge, exactly like the Google callback. No Django session
   outlives the round trip.
"""

import hmac
import logging
from enum import StrEnum
from urllib.parse import urlencode

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base.constants import AuthProcess
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts import mfa, oauth
from accounts.models import User
from accounts.sessions import sessions_revoke_all
from audit.services import event_record
from core import entitlements
from core.actor import Actor, actor_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError, validation_error
from core.roles import Role
from organizations.invites import members_used
from organizations.models import Membership, Organization
from organizations.services import default_role, email_domain_allowed, membership_add
from permissions import engine
from permissions.drf import member_holdings
from sso import selectors, services
from sso.models import SSOConnection

logger = logging.getLogger(__name__)

SSO = "sso"
FEATURE = "sso"
LOGIN_URL_NAME = "auth:sso-login"


class SSOError(StrEnum):
    """Codes the front end receives as `#error=<code>` (besides accounts.oauth.OAuthError's)."""

    SSO_UNAVAILABLE = "sso_unavailable"
    INVALID_NONCE = "invalid_nonce"
    DOMAIN_NOT_ALLOWED = "sso_domain_not_allowed"
    MEMBERSHIP_SUSPENDED = "membership_suspended"
    MEMBER_LIMIT_REACHED = "member_limit_reached"
    JOIN_REFUSED = "sso_join_refused"
    INVALID_RESPONSE = "invalid_response"
    # The IdP may not vouch for this account (staff, a member of another org, or one holding more
    # than the connection's trust): it signs in its usual way.
    ACCOUNT_NOT_COVERED = "sso_account_not_covered"


def _abort(code: str):
    raise ImmediateHttpResponse(oauth.frontend_redirect(error=str(code)))


def sso_available(connection: SSOConnection) -> bool:
    """Whether the connection may sign people in now: its org's plan includes `sso`."""
    return entitlements.has_feature(connection.organization, FEATURE)


# --- start ------------------------------------------------------------------------------------

_NO_SSO = "No single sign-on is set up for this address."


def connection_find(*, email: str | None = None, organization_slug: str | None = None) -> SSOConnection:
    """The connection to sign in through: by the e-mail's verified domain, or the org's only one (404 otherwise)."""
    if email:
        connection = selectors.connection_for_domain(selectors.email_domain(User.objects.normalize_email(email)))
    else:
        organization = Organization.objects.filter(slug=organization_slug or "").first()
        connections = list(selectors.connection_list(organization=organization)) if organization else []
        if len(connections) > 1:
            raise validation_error("email", "This organization has several SSO connections: give your e-mail address instead.")
        connection = connections[0] if connections else None
    if connection is None or not sso_available(connection):
        # One answer for "no such org / domain / connection / plan": nothing more is told to a stranger.
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message=_NO_SSO, status_code=404)
    return connection


def login_url(*, request, connection: SSOConnection, email: str | None = None) -> str:
    """The URL the browser opens to start signing in through `connection` (state is stashed there, in that browser)."""
    url = services.absolute_url(request, reverse(LOGIN_URL_NAME, kwargs={"connection_id": connection.id}))
    return f"{url}?{urlencode({'login_hint': email})}" if email else url


def provider_for(request: HttpRequest, connection: SSOConnection):
    """allauth's provider for this connection, with its sealed settings opened in memory only."""
    cache = request.__dict__.setdefault("_sso_providers", {})
    provider = cache.get(connection.id)
    if provider is None:
        from sso import oidc, saml

        sealed = services.secrets_of(connection)
        app = connection.social_app
        if connection.kind == SSOConnection.Kind.OIDC:
            app.secret = sealed["client_secret"]  # in memory; nothing ever saves this instance
            provider = oidc.SSOOIDCProvider(request, app=app)
        else:
            provider = saml.SSOSAMLProvider(request, app=app, connection=connection, idp=sealed["idp"])
        cache[connection.id] = provider
    return provider


def login_redirect(*, request: HttpRequest, connection_id, login_hint: str | None) -> HttpResponse:
    """Send the browser to the IdP; allauth stashes the state in this browser's session."""
    connection = selectors.connection_by_provider_id(connection_id)
    if connection is None or not sso_available(connection):
        return oauth.error_redirect(SSOError.SSO_UNAVAILABLE)
    provider = provider_for(request, connection)
    if connection.kind == SSOConnection.Kind.OIDC:
        auth_params = provider.get_auth_params()
        if login_hint and "@" in login_hint and len(login_hint) <= 254:
            auth_params["login_hint"] = login_hint
        return provider.redirect(request, process=AuthProcess.LOGIN, auth_params=auth_params)
    return provider.redirect(request, process=AuthProcess.LOGIN)


# --- enforcement ------------------------------------------------------------------------------


def sso_required(*, user) -> bool:
    """Whether an enforcing connection must sign this account in (its IdP may, and it is not the org's owner)."""
    domain = selectors.email_domain(user.email)
    for connection in selectors.connections_enforced_for(domain):
        if not sso_available(connection):
            continue
        owner = Membership.objects.filter(organization=connection.organization, user=user, role=Role.OWNER, status=Membership.Status.ACTIVE).exists()
        # Break-glass: the owner can still sign in if the IdP is down or misconfigured. An account the
        # IdP may not sign in keeps its own way in, or it would have none.
        if not owner and sso_refusal(connection, user) is None:
            return True
    return False


def org_enforces_sso(*, organization: Organization, user) -> bool:
    """Whether an enforcing connection of `organization` serves the user's address now (verified domain, plan with `sso`)."""
    domain = selectors.email_domain(user.email)
    return any(connection.organization_id == organization.id and sso_available(connection) for connection in selectors.connections_enforced_for(domain))


def sso_enforced_in(*, user, organization_id) -> bool:
    """Whether the org enforces SSO for this account: only a session through its IdP opens there (not for its owner)."""
    organization = Organization.objects.filter(id=organization_id).first()
    if organization is None or not org_enforces_sso(organization=organization, user=user):
        return False
    return not Membership.objects.filter(organization=organization, user=user, role=Role.OWNER).exists()


def _trust_covers(connection: SSOConnection, membership: Membership | None, user: User | None = None) -> bool:
    trusted = set(connection.trusted_permissions)
    if SSOConnection.ALL in trusted:
        return True
    organization = connection.organization
    if membership is None:
        # A newcomer gets the default role: what it brings (allow policies naming it included), and
        # what allow policies naming everyone, or this account (a former member), add.
        needed = engine.newcomer_grants(organization=organization, slug=default_role(organization=organization), user_id=user.id if user else None)
    elif membership.role == Role.OWNER:
        return False  # the owner can hold anything: only an owner-chosen IdP vouches for them
    else:
        needed = member_holdings(organization=organization, membership=membership)
    return needed <= trusted


def sso_refusal(connection: SSOConnection, user: User) -> str | None:
    """Why this connection may not sign `user` in, or None when it may.

    An org's IdP speaks for the org's own people, and never above whoever chose it:
    - staff keep their own sign-in: their powers need their own second factor (API.md v1.1 invariant 8);
    - an account that also belongs to another org is not this org's to vouch for (its IdP would open
      the other org too, and the account's credentials);
    - a member holding a permission beyond the connection's `trusted_permissions` (what the member
      who last chose its IdP or domains held) is one the chooser could not act on (invariant 2) —
      the owner, say, when an admin set the IdP up; a newcomer likewise when the default role brings more.
    """
    if user.is_staff or user.is_superuser:
        return SSOError.ACCOUNT_NOT_COVERED
    memberships = list(Membership.objects.filter(user=user))
    if any(membership.organization_id != connection.organization_id for membership in memberships):
        return SSOError.ACCOUNT_NOT_COVERED
    if not _trust_covers(connection, memberships[0] if memberships else None, user):
        return SSOError.ACCOUNT_NOT_COVERED
    return None


# --- identity → account -----------------------------------------------------------------------


def connection_of(sociallogin: SocialLogin | None) -> SSOConnection | None:
    if sociallogin is None:
        return None
    return selectors.connection_by_provider_id(sociallogin.account.provider)


def _asserted_email(sociallogin: SocialLogin) -> str | None:
    # What the IdP asserted this time (kept by populate_user): for a linked identity allauth has
    # already swapped `sociallogin.user` for the local account, whose e-mail proves nothing now.
    return User.objects.normalize_email(getattr(sociallogin, "sso_asserted_email", None) or "") or None


def _nonce_check(connection: SSOConnection, sociallogin: SocialLogin) -> None:
    if connection.kind != SSOConnection.Kind.OIDC:
        return
    expected = sociallogin.state.get("nonce") or ""
    asserted = ((sociallogin.account.extra_data or {}).get("id_token") or {}).get("nonce") or ""
    if not expected or not hmac.compare_digest(str(expected), str(asserted)):
        # The ID token was minted for another authorization request (replay or injection).
        _abort(SSOError.INVALID_NONCE)


def _admission_check(connection: SSOConnection, user: User | None, email: str) -> None:
    """Refuse before anything is written: suspended, over the member limit, outside allowed domains."""
    organization = connection.organization
    membership = Membership.objects.filter(organization=organization, user=user).first() if user else None
    if membership is not None:
        if membership.status != Membership.Status.ACTIVE:
            _abort(SSOError.MEMBERSHIP_SUSPENDED)
        return
    if not email_domain_allowed(organization=organization, email=email):
        _abort(SSOError.JOIN_REFUSED)
    if not entitlements.check(organization, "max_members", used=members_used(organization)).allowed:
        _abort(SSOError.MEMBER_LIMIT_REACHED)


def identity_accept(request: HttpRequest, sociallogin: SocialLogin, connection: SSOConnection) -> None:
    """Map the IdP's identity to an account, or end the round trip with `#error=<code>`."""
    if sociallogin.state.get("process") != AuthProcess.LOGIN:
        _abort(oauth.OAuthError.SIGN_IN_FAILED)
    if not sso_available(connection):
        _abort(SSOError.SSO_UNAVAILABLE)
    _nonce_check(connection, sociallogin)
    email = _asserted_email(sociallogin)
    if email is None:
        _abort(oauth.OAuthError.EMAIL_MISSING)
    domain = selectors.email_domain(email)
    if domain not in connection.domains or domain not in selectors.verified_domain_names(organization=connection.organization):
        # An IdP vouches only for the domains its org verified: org A's IdP cannot sign into org B's.
        _abort(SSOError.DOMAIN_NOT_ALLOWED)
    if sociallogin.is_existing:
        user = sociallogin.user
    else:
        user = User.objects.filter(email__iexact=email).first()
    if user is not None and not user.is_active:
        _abort(oauth.OAuthError.ACCOUNT_INACTIVE)
    if user is not None:
        # Every sign-in, linked or not: the account may have joined another org or been promoted since.
        refusal = sso_refusal(connection, user)
        if refusal is not None:
            _abort(refusal)
    _admission_check(connection, user, email)
    if user is None:
        if not _trust_covers(connection, None):
            _abort(SSOError.ACCOUNT_NOT_COVERED)
        return  # a new account: created by allauth (save_user), provisioned there
    if not sociallogin.is_existing:
        if not user.email_verified and not _made_by_org(connection, user):
            # Someone registered this address without proving the mailbox: linking would hand them the
            # IdP user's account (pre-account takeover). The mailbox owner verifies it first.
            _abort(oauth.OAuthError.ACCOUNT_EXISTS)
        account_link(request=request, sociallogin=sociallogin, user=user, connection=connection)
    # A linked user removed from the org since comes back as a newcomer (suspend to keep someone out).
    member_provision(connection=connection, user=user, actor=actor_of(request))


def _made_by_org(connection: SSOConnection, user: User) -> bool:
    """An unverified account this org let in (SCIM, an invitation) and nobody else: its IdP may claim it."""
    return Membership.objects.filter(user=user, organization=connection.organization).exists()


def account_link(*, request: HttpRequest, sociallogin: SocialLogin, user: User, connection: SSOConnection) -> None:
    """Link the IdP identity to an existing account of the connection's domains.

    An account whose address was never proven (made by SCIM or an invitation) is claimed by the
    IdP: whatever someone set on it proves nothing (whoever held the invitation code could have
    made it), so its password, its second factors (TOTP, backup codes, passkeys) and its sessions go.
    """
    with transaction.atomic():
        oauth.social_account_connect(request=request, sociallogin=sociallogin, user=user, organization_id=connection.organization_id)
        if not user.email_verified:
            actor = actor_of(request).as_user(user)
            mfa.factors_remove_all(user=user, actor=actor, organization_id=connection.organization_id, reason="sso_claimed")
            if user.has_usable_password():
                user.set_unusable_password()
                user.save(update_fields=["password"])
                event_record(
                    action="user.password_removed",
                    actor=actor,
                    organization_id=connection.organization_id,
                    target=user,
                    metadata={"reason": "sso_claimed", "connection_id": str(connection.id)},
                )
            sessions_revoke_all(user=user, reason="sso_claimed", actor=actor)


def member_provision(*, connection: SSOConnection, user: User, actor: Actor) -> Membership:
    """JIT-provision `user` as a member with the org's default role (a no-op for a member already)."""
    organization = connection.organization
    with transaction.atomic():
        # Row lock: two first sign-ins at once cannot both take the last seat.
        Organization.objects.select_for_update().only("id").get(id=organization.id)
        existing = Membership.objects.filter(organization=organization, user=user).first()
        if existing is not None:
            return existing
        if not entitlements.check(organization, "max_members", used=members_used(organization)).allowed:
            _abort(SSOError.MEMBER_LIMIT_REACHED)
        try:
            return membership_add(
                organization=organization,
                user=user,
                role=default_role(organization=organization),
                actor=actor.as_user(user),
                source=SSO,
                action="member.jit_provisioned",
            )
        except ApplicationError as exc:
            logger.warning("SSO JIT provisioning refused in org %s: %s", organization.id, exc.code)
            _abort(SSOError.JOIN_REFUSED)


def sign_in_accepted(*, request: HttpRequest, user: User, connection: SSOConnection) -> HttpResponse | None:
    """The IdP's sign-in passed: record it, then the MFA challenge if the account has a second factor."""
    gate = oauth.social_sign_in_gate(user=user, auth_method=SSO, organization_id=connection.organization_id)
    if not user.is_active:
        return gate
    event_record(
        action="user.sso_login",
        actor=actor_of(request).as_user(user),
        organization_id=connection.organization_id,
        target=user,
        metadata={"connection_id": str(connection.id), "type": connection.kind},
    )
    return gate


class AccountAdapter(oauth.AccountAdapter):
    """accounts' adapter, plus SSO sign-ins: their own gate, and a session in the connection's org."""

    def pre_login(self, request: HttpRequest, user: User, **kwargs) -> HttpResponse | None:
        connection = connection_of((kwargs.get("signal_kwargs") or {}).get("sociallogin"))
        if connection is None:
            return super().pre_login(request, user, **kwargs)
        return sign_in_accepted(request=request, user=user, connection=connection)

    def post_login(self, request: HttpRequest, user: User, **kwargs) -> HttpResponse:
        connection = connection_of((kwargs.get("signal_kwargs") or {}).get("sociallogin"))
        if connection is None:
            return super().post_login(request, user, **kwargs)
        return oauth.token_redirect(actor=actor_of(request), user=user, auth_method=SSO, organization_id=connection.organization_id)


class SocialAccountAdapter(oauth.SocialAccountAdapter):
    """accounts' adapter, plus SSO connections: per-connection providers and the rules above."""

    def get_provider(self, request: HttpRequest, provider, client_id=None):
        connection = selectors.connection_by_provider_id(provider)
        if connection is not None:
            return provider_for(request, connection)
        return super().get_provider(request, provider, client_id=client_id)

    def get_requests_session(self):
        from sso import fetch

        # An SSO connection's endpoints are the tenant's choice (SSRF): sso.oidc turns the guard on for its
        # sign-ins. Google's endpoints are the operator's settings, requested as allauth does.
        return fetch.idp_session() if fetch.guard_active() else super().get_requests_session()

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None) -> None:
        if (extra_context or {}).get("saml_errors"):
            # A SAML response that failed validation (signature, audience, time window...).
            _abort(SSOError.INVALID_RESPONSE)
        super().on_authentication_error(request, provider, error=error, exception=exception, extra_context=extra_context)

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        connection = connection_of(sociallogin)
        if connection is None:
            return super().pre_social_login(request, sociallogin)
        identity_accept(request, sociallogin, connection)

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict) -> User:
        user = super().populate_user(request, sociallogin, data)
        sociallogin.sso_asserted_email = data.get("email") or ""
        return user

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        if connection_of(sociallogin) is not None:
            return True  # identity_accept has admitted the e-mail already
        return super().is_auto_signup_allowed(request, sociallogin)

    def email_proven(self, sociallogin: SocialLogin, email: str) -> bool:
        connection = connection_of(sociallogin)
        if connection is None:
            return super().email_proven(sociallogin, email)
        # Not the IdP's word: the org proved (DNS) it owns the domain, and identity_accept checked
        # the address is at one of the connection's verified domains (API.md v1.1 invariant 3).
        domain = selectors.email_domain(email)
        return domain in connection.domains and domain in selectors.verified_domain_names(organization=connection.organization)

    def sign_in_method(self, sociallogin: SocialLogin) -> str:
        return SSO if connection_of(sociallogin) is not None else super().sign_in_method(sociallogin)

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form=None) -> User:
        user = super().save_user(request, sociallogin, form=form)
        connection = connection_of(sociallogin)
        if connection is not None:
            member_provision(connection=connection, user=user, actor=actor_of(request))
        return user


def callback(*, request: HttpRequest, connection_id) -> HttpResponse:
    """The OIDC redirect target: allauth finishes the round trip, we land on the front end."""
    from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView

    from sso import oidc

    connection = selectors.connection_by_provider_id(connection_id)
    if connection is None or connection.kind != SSOConnection.Kind.OIDC:
        return oauth.error_redirect(SSOError.SSO_UNAVAILABLE)
    view = OAuth2CallbackView.adapter_view(oidc.SSOOIDCAdapter(request, connection.provider_id))
    # A GET (no request transaction): the account, link, membership, session and audit rows together.
    with transaction.atomic():
        return oauth.callback_finish(request=request, allauth_view=view, label="SSO")


def acs_finish(*, request: HttpRequest, connection_id) -> HttpResponse:
    """The SAML ACS's second leg: validate the response (sso.saml), sign in, land on the front end."""
    from sso import saml

    connection = selectors.connection_by_provider_id(connection_id)
    if connection is None or connection.kind != SSOConnection.Kind.SAML:
        return oauth.error_redirect(SSOError.SSO_UNAVAILABLE)
    provider = provider_for(request, connection)
    with transaction.atomic():  # as `callback`
        return oauth.callback_finish(request=request, allauth_view=saml.acs_finish_view, label="SSO", provider=provider)


def sp_metadata(*, request: HttpRequest, connection_id) -> str:
    """Our SP metadata for a SAML connection (404 for any other id)."""
    from sso import saml

    connection = selectors.connection_by_provider_id(connection_id)
    if connection is None or connection.kind != SSOConnection.Kind.SAML:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="SSO connection not found.", status_code=404)
    return saml.sp_metadata(request, connection, services.secrets_of(connection)["idp"])
