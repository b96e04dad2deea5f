"""Writes of integrations: connect (supplied credentials or OAuth), refresh, fail, expire, revoke.

Every change writes an integration log row and an audit event in the same transaction; the
credentials only ever exist decrypted in memory, and never reach a log, an audit event or a response.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.core.cache import cache
from django.db import transaction

from audit.services import event_record
from core import clock, entitlements
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from integrations import oauth, selectors, vault
from integrations.models import Integration, IntegrationLog
from integrations.providers import AuthType, Provider, provider_get
from notifications.services import notify_org_admins
from organizations.models import Organization

logger = logging.getLogger(__name__)

ENTITLEMENT = "max_integrations"
MAX_CREDENTIALS_BYTES = 16 * 1024
OAUTH_STATE_SALT = "integrations.oauth.state"
OAUTH_STATE_MAX_AGE = 10 * 60
_VERIFIER_CACHE_PREFIX = "integrations:oauth:"

Action = IntegrationLog.Action


# --- helpers ---------------------------------------------------------------------------------


def provider_require(key: str, *, auth_type: str | None = None) -> Provider:
    """The provider of that key (404 when unknown; 400 when it cannot connect that way)."""
    provider = provider_get(key)
    if provider is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message=f"Unknown integration provider {key!r}.", status_code=404)
    if auth_type is not None and auth_type not in provider.auth_types:
        allowed = ", ".join(provider.auth_types)
        raise validation_error("type", f"{provider.name} connects with: {allowed}.")
    return provider


def log_write(*, integration: Integration, action: str, message: str = "") -> IntegrationLog:
    """Append one entry to the org's integration log."""
    return IntegrationLog.objects.create(
        organization_id=integration.organization_id,
        integration=integration,
        action=action,
        message=message[:500],
        timestamp=clock.now(),
    )


def credentials_decode(*, encoded: str, type: str) -> dict:
    """Decode and validate `credentials` (base64 of a JSON object) for the connection type."""
    if not isinstance(encoded, str) or not encoded.strip():
        raise validation_error("credentials", "Credentials are required (base64 of a JSON object).")
    if len(encoded) > MAX_CREDENTIALS_BYTES * 2:
        raise validation_error("credentials", "Credentials are too large.")
    text = encoded.strip()
    try:
        # Accept standard and URL-safe alphabets, with or without padding.
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True)
    except (binascii.Error, ValueError):
        raise validation_error("credentials", "Credentials must be base64-encoded.") from None
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise validation_error("credentials", "Credentials must be base64 of a JSON object.") from None
    if not isinstance(payload, dict):
        raise validation_error("credentials", "Credentials must be a JSON object.")
    required = "api_key" if type == AuthType.API_KEY else "access_token"
    value = payload.get(required)
    if not isinstance(value, str) or not value.strip():
        raise validation_error("credentials", f"Credentials of type {type} need a non-empty {required!r}.")
    refresh_token = payload.get("refresh_token")
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise validation_error("credentials", "'refresh_token' must be a string.")
    if "expires_in" in payload:
        try:
            payload["expires_in"] = int(payload["expires_in"])
        except (TypeError, ValueError):
            raise validation_error("credentials", "'expires_in' must be a number of seconds.") from None
    return payload


# --- connect ---------------------------------------------------------------------------------


def integration_connect(
    *,
    organization,
    provider: Provider,
    type: str,
    credentials: dict,
    expires_at: datetime | None = None,
    scopes: tuple[str, ...] | list[str] = (),
    account: str = "",
    actor: Actor,
) -> tuple[Integration, bool]:
    """Store (or replace) the org's connection to a provider; returns (integration, created)."""
    credentials = dict(credentials)
    if expires_at is None and credentials.get("expires_in"):
        expires_at = clock.now() + timedelta(seconds=int(credentials["expires_in"]))
    credentials.pop("expires_in", None)
    now = clock.now()
    with transaction.atomic():
        # Lock the org row: two connects at once cannot both squeeze under the plan's limit.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        integration = Integration.objects.for_organization(organization).select_for_update().filter(key=provider.key).first()
        if integration is None or integration.status == Integration.Status.REVOKED:
            entitlements.require(organization, ENTITLEMENT, used=selectors.connected_count(organization=organization))
        created = integration is None
        if created:
            integration = Integration(organization=organization, key=provider.key)
        integration.type = type
        integration.status = Integration.Status.ACTIVE
        integration.secret = vault.seal(organization=organization, payload=credentials)
        integration.refreshable = bool(credentials.get("refresh_token"))
        integration.scopes = list(scopes or provider.scopes)
        integration.account = account
        integration.expires_at = expires_at
        integration.last_refreshed_at = now
        integration.last_error = ""
        # None when an API key connects: the integration then has no `connected_by`.
        integration.connected_by = actor.user
        integration.connected_at = now
        integration.revoked_at = None
        integration.save()
        log_write(integration=integration, action=Action.CONNECTED, message=f"Connected with {type}.")
        event_record(
            action="integration.connected",
            actor=actor,
            organization_id=organization.id,
            target=integration,
            metadata={"integration": provider.key, "type": type, "replaced": not created, "expires_at": expires_at},
        )
    return integration, created


def _oauth_provider(key: str) -> Provider:
    provider = provider_require(key, auth_type=AuthType.OAUTH)
    if not provider.oauth_configured:
        raise ApplicationError(
            code=ErrorCode.SERVICE_UNAVAILABLE,
            message=f"{provider.name} OAuth is not configured on this server.",
            status_code=503,
        )
    return provider


@dataclass(frozen=True)
class OAuthStart:
    """A started flow: where to send the browser, and the secret only the starting browser keeps (a cookie)."""

    authorize_url: str
    browser_secret: str


def _binding_digest(browser_secret: str) -> str:
    return hashlib.sha256(browser_secret.encode()).hexdigest()


def oauth_start(*, organization, user, key: str, redirect_uri: str, mfa: bool = False, sso: bool = False) -> OAuthStart:
    """Begin the authorization-code flow: a signed, expiring state bound to user, org and browser (+ PKCE).

    The state travels through the provider and whoever the URL is sent to; the browser secret
    does not (its hash is in the state), so only the caller who started can finish.
    """
    provider = _oauth_provider(key)
    nonce = secrets.token_urlsafe(24)
    browser_secret = secrets.token_urlsafe(32)
    verifier, challenge = oauth.pkce_pair() if provider.pkce else (None, None)
    # The verifier stays on the server (single use, same lifetime as the state): a state seen in a
    # URL must not carry what PKCE keeps secret.
    cache.set(_VERIFIER_CACHE_PREFIX + nonce, {"verifier": verifier}, OAUTH_STATE_MAX_AGE)
    state = signing.dumps(
        {
            "n": nonce, "u": str(user.pk), "o": str(organization.pk), "k": provider.key, "m": bool(mfa), "s": bool(sso),
            "b": _binding_digest(browser_secret),
        },
        salt=OAUTH_STATE_SALT,
        compress=True,
    )  # fmt: skip
    url = oauth.authorize_url(provider, state=state, redirect_uri=redirect_uri, code_challenge=challenge)
    return OAuthStart(authorize_url=url, browser_secret=browser_secret)


def oauth_state_read(*, key: str, state: str) -> dict:
    """Check a callback's state (signature, age, provider) and spend it; returns its claims."""
    try:
        claims = signing.loads(state or "", salt=OAUTH_STATE_SALT, max_age=OAUTH_STATE_MAX_AGE)
    except signing.SignatureExpired:
        raise validation_error("state", "The authorization took too long; start again.") from None
    except signing.BadSignature:
        raise validation_error("state", "Invalid state.") from None
    if not isinstance(claims, dict) or claims.get("k") != key:
        raise validation_error("state", "The state was issued for another provider.")
    stored = cache.get(_VERIFIER_CACHE_PREFIX + str(claims.get("n")))
    # Single use: a replayed callback (or one whose start this server forgot) is refused.
    if stored is None or not cache.delete(_VERIFIER_CACHE_PREFIX + str(claims["n"])):
        raise validation_error("state", "This authorization was already used or has expired; start again.")
    return {**claims, "verifier": stored.get("verifier")}


def oauth_binding_check(*, claims: dict, browser_secret: str | None, caller=None) -> None:
    """Refuse a callback completed by anyone but the caller who started the flow (API.md v1.1 invariant 4).

    Bound means: the starting user's own bearer token (a front end forwarding code and state),
    or, with no token, the browser holding the secret the start response set as a cookie.
    Anyone else (a victim sent the attacker's authorize URL) is refused before any token exchange.
    """
    if caller is not None:
        if str(caller.pk) == str(claims.get("u")):
            return
        raise ApplicationError(code=ErrorCode.INVALID_ORG_CONTEXT, message="This flow was started by another user.", status_code=403)
    expected = str(claims.get("b") or "")
    # Constant-time: the comparison must not tell a guesser how much of the digest matched.
    if expected and browser_secret and hmac.compare_digest(_binding_digest(browser_secret), expected):
        return
    raise ApplicationError(
        code=ErrorCode.INSUFFICIENT_PERMISSIONS,
        message="This authorization was not started from this browser or account; start it again from the app.",
        status_code=403,
    )


def oauth_complete(*, organization, provider_key: str, code: str, claims: dict, redirect_uri: str, actor: Actor) -> tuple[Integration, bool]:
    """Finish the flow: exchange the code at the provider and store the tokens."""
    provider = _oauth_provider(provider_key)
    try:
        tokens = oauth.code_exchange(provider, code=code, redirect_uri=redirect_uri, code_verifier=claims.get("verifier"))
    except oauth.ProviderError as error:
        raise provider_error_response(error) from None
    return integration_connect(
        organization=organization,
        provider=provider,
        type=AuthType.OAUTH,
        credentials=tokens.credentials(),
        expires_at=tokens.expires_at,
        scopes=tokens.scopes or provider.scopes,
        account=_account_name(provider, tokens.access_token),
        actor=actor,
    )


def _account_name(provider: Provider, access_token: str) -> str:
    """Who connected, for people to recognize the integration; a provider that cannot say still connects."""
    try:
        return oauth.account_name(provider, access_token=access_token)
    except oauth.ProviderError as error:
        logger.warning("integration %s connected without an account name: %s", provider.key, error.message)
        return ""


def provider_error_response(error: oauth.ProviderError) -> ApplicationError:
    """The API error for a provider failure: 503 to retry later, 409 when the grant must be redone."""
    if error.retryable:
        return ApplicationError(code=ErrorCode.SERVICE_UNAVAILABLE, message=error.message, status_code=503, details={"provider_error": error.kind})
    return ApplicationError(code=ErrorCode.CONFLICT, message=error.message, status_code=409, details={"provider_error": error.kind})


# --- refresh ---------------------------------------------------------------------------------


def _lock(integration_id, *, skip_locked: bool) -> Integration | None:
    # One query brings the org and its wrapped data key; only the integration row is locked.
    queryset = Integration.objects.select_for_update(skip_locked=skip_locked, of=("self",)).select_related(
        "organization", "organization__integrations_data_key"
    )
    return queryset.filter(id=integration_id).first()


def integration_refresh(*, integration_id, actor: Actor, skip_locked: bool = False, due_before: datetime | None = None):
    """Refresh one integration's access token at its provider, under a row lock.

    Returns the integration, or None when it was skipped: locked by another worker
    (`skip_locked`), or no longer due (`due_before`: refreshed by someone else meanwhile).
    Raises `oauth.ProviderError` when the provider refuses or fails (the caller decides on
    retries); a dead grant (invalid_grant) is marked `error` here, before raising.
    """
    with transaction.atomic():
        integration = _lock(integration_id, skip_locked=skip_locked)
        if integration is None:
            return None
        if integration.status == Integration.Status.REVOKED or not integration.refreshable:
            if due_before is not None:
                return None
            raise conflict("This integration has no refresh token to refresh with; reconnect it.", integration=integration.key)
        if due_before is not None and not selectors.integration_is_due(integration, now=due_before):
            return None
        provider = provider_require(integration.key)
        credentials = vault.unseal(organization=integration.organization, token=integration.secret)
        try:
            # The HTTP call runs inside the row lock: two workers never spend the same refresh token.
            tokens = oauth.token_refresh(provider, refresh_token=credentials.get("refresh_token", ""))
        except oauth.ProviderError as error:
            # Recorded, committed, then raised: the failure must outlive the caller's retry decision.
            if error.kind == oauth.ErrorKind.INVALID_GRANT:
                _mark_failed(integration=integration, reason=error.message)
            else:
                log_write(integration=integration, action=Action.REFRESH_FAILED, message=error.message)
            failure = error
        else:
            failure = None
            _refresh_store(integration=integration, credentials=credentials, tokens=tokens, actor=actor)
    if failure is not None:
        raise failure
    return integration


def _refresh_store(*, integration: Integration, credentials: dict, tokens: oauth.TokenSet, actor: Actor) -> None:
    """Seal the new tokens and record the successful refresh (inside the caller's transaction)."""
    now = clock.now()
    integration.secret = vault.seal(organization=integration.organization, payload={**credentials, **tokens.credentials()})
    integration.refreshable = bool(tokens.refresh_token)
    integration.expires_at = tokens.expires_at
    integration.last_refreshed_at = now
    integration.status = Integration.Status.ACTIVE
    integration.last_error = ""
    if tokens.scopes:
        integration.scopes = list(tokens.scopes)
    integration.save()
    log_write(integration=integration, action=Action.REFRESH_SUCCESS, message="Access token refreshed.")
    event_record(
        action="integration.refreshed",
        actor=actor,
        organization_id=integration.organization_id,
        target=integration,
        metadata={"integration": integration.key, "expires_at": tokens.expires_at},
    )


def _mark_failed(*, integration: Integration, reason: str) -> None:
    integration.status = Integration.Status.ERROR
    integration.last_error = reason[:500]
    integration.save(update_fields=["status", "last_error", "updated_at"])
    log_write(integration=integration, action=Action.REFRESH_FAILED, message=f"Gave up: {reason}")
    event_record(
        action="integration.refresh_failed",
        actor=Actor.system(),
        organization_id=integration.organization_id,
        target=integration,
        metadata={"integration": integration.key, "reason": reason[:500]},
    )
    organization = integration.organization
    transaction.on_commit(lambda: _notify_failure(organization=organization, integration=integration, reason=reason))


def _notify_failure(*, organization, integration: Integration, reason: str) -> None:
    provider = provider_get(integration.key)
    notify_org_admins(
        organization=organization,
        event="integration_failed",
        context={"integration_id": str(integration.id), "provider": provider.name if provider else integration.key, "reason": reason},
    )


def integration_fail(*, integration_id, reason: str) -> Integration | None:
    """Give up on an integration after the last retry: mark it `error`, log, audit, tell the admins."""
    with transaction.atomic():
        integration = _lock(integration_id, skip_locked=False)
        if integration is None or integration.status != Integration.Status.ACTIVE:
            return integration
        _mark_failed(integration=integration, reason=reason)
    return integration


def integrations_expire(*, now: datetime | None = None) -> int:
    """Mark active integrations past their expiry that cannot refresh as `expired`; return how many."""
    now = now or clock.now()
    expired = 0
    due = Integration.objects.filter(status=Integration.Status.ACTIVE, refreshable=False, expires_at__lte=now)
    for integration_id in due.values_list("id", flat=True).iterator():
        with transaction.atomic():
            integration = _lock(integration_id, skip_locked=True)
            if integration is None or integration.status != Integration.Status.ACTIVE or integration.refreshable:
                continue
            integration.status = Integration.Status.EXPIRED
            integration.save(update_fields=["status", "updated_at"])
            log_write(integration=integration, action=Action.EXPIRED, message="The credentials expired; reconnect to resume.")
            event_record(
                action="integration.expired",
                actor=Actor.system(),
                organization_id=integration.organization_id,
                target=integration,
                metadata={"integration": integration.key, "expires_at": integration.expires_at},
            )
            expired += 1
    return expired


# --- revoke ----------------------------------------------------------------------------------


def integration_revoke(*, integration: Integration, actor: Actor) -> bool:
    """Revoke at the provider when it can, then wipe the stored secrets; returns whether the provider revoked."""
    with transaction.atomic():
        integration = _lock(integration.id, skip_locked=False)
        if integration.status == Integration.Status.REVOKED:
            return False
        provider = provider_require(integration.key)
        revoked_remotely, remote_note = False, ""
        if integration.type == Integration.Type.OAUTH and integration.secret:
            try:
                credentials = vault.unseal(organization=integration.organization, token=integration.secret)
                revoked_remotely = oauth.token_revoke(provider, credentials=credentials)
            except (oauth.ProviderError, vault.VaultError) as error:
                # The local wipe goes ahead: a provider outage must not keep secrets we were told to drop.
                remote_note = f" The provider could not revoke it: {getattr(error, 'message', str(error))}"
        integration.secret = ""
        integration.refreshable = False
        integration.status = Integration.Status.REVOKED
        integration.revoked_at = clock.now()
        integration.last_error = ""
        integration.save()
        message = ("Revoked at the provider and wiped." if revoked_remotely else "Wiped.") + remote_note
        log_write(integration=integration, action=Action.REVOKED, message=message)
        event_record(
            action="integration.revoked",
            actor=actor,
            organization_id=integration.organization_id,
            target=integration,
            metadata={"integration": integration.key, "revoked_at_provider": revoked_remotely},
        )
    return revoked_remotely
