"""The OAuth 2.0 client side: authorize URLs with PKCE, code exchange, refresh and revocation.

Errors come back as `ProviderError` with a kind: `invalid_grant` (the grant is dead: reconnect),
`temporary` (timeout, connection error, 5xx, 429: retry later) or `rejected` (any other refusal,
e.g. a wrong client secret: retrying will not help). Tokens are never logged.
"""

import base64
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

import requests
from django.conf import settings

from core import clock
from integrations.providers import Provider, RevokeStyle

logger = logging.getLogger(__name__)


class ErrorKind(StrEnum):
    INVALID_GRANT = "invalid_grant"
    TEMPORARY = "temporary"
    REJECTED = "rejected"


class ProviderError(Exception):
    def __init__(self, kind: ErrorKind, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.kind == ErrorKind.TEMPORARY


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def credentials(self) -> dict:
        """The dict the vault seals."""
        return {"access_token": self.access_token, "refresh_token": self.refresh_token, **self.extra}


# One pooled HTTP session per thread: keeps connections to a provider alive across refreshes.
_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.headers["User-Agent"] = "saas-platform-integrations/1"
    return session


def _timeout() -> float:
    return float(settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS)


def pkce_pair() -> tuple[str, str]:
    """A PKCE (RFC 7636) code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(provider: Provider, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
    """Where to send the user's browser to grant access."""
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": provider.scope_separator.join(provider.scopes),
        "state": state,
        **dict(provider.authorize_params),
    }
    if code_challenge:
        params.update(code_challenge=code_challenge, code_challenge_method="S256")
    return f"{provider.authorize_url}?{urlencode(params)}"


def _request(provider: Provider, method: str, url: str, **kwargs) -> requests.Response:
    try:
        return _session().request(method, url, timeout=_timeout(), allow_redirects=False, **kwargs)
    except requests.Timeout:
        raise ProviderError(ErrorKind.TEMPORARY, f"{provider.name} did not answer in time.") from None
    except requests.RequestException as error:
        raise ProviderError(ErrorKind.TEMPORARY, f"{provider.name} could not be reached ({type(error).__name__}).") from None


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _raise_for_error(provider: Provider, response: requests.Response, body: dict) -> None:
    # Slack answers 200 with {"ok": false, "error": ...}; GitHub answers 200 with {"error": ...}.
    error = body.get("error") if (response.status_code >= 400 or "error" in body or body.get("ok") is False) else None
    if response.status_code < 400 and not error:
        return
    code = str(error or "").lower()
    description = str(body.get("error_description") or code or f"HTTP {response.status_code}")[:200]
    logger.warning("integration provider %s refused a token request: HTTP %s %s", provider.key, response.status_code, code)
    if code in {"invalid_grant", "invalid_refresh_token", "bad_refresh_token", "token_revoked", "invalid_code", "bad_verification_code"}:
        raise ProviderError(ErrorKind.INVALID_GRANT, f"{provider.name} no longer accepts this grant ({description}).")
    if response.status_code >= 500 or response.status_code == 429 or code in {"temporarily_unavailable", "ratelimited"}:
        raise ProviderError(ErrorKind.TEMPORARY, f"{provider.name} is unavailable right now ({description}).")
    raise ProviderError(ErrorKind.REJECTED, f"{provider.name} refused the request ({description}).")


def _token_set(provider: Provider, body: dict, *, previous_refresh_token: str = "") -> TokenSet:
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ProviderError(ErrorKind.TEMPORARY, f"{provider.name} answered without an access token.")
    expires_at = None
    try:
        if body.get("expires_in") is not None:
            expires_at = clock.now() + timedelta(seconds=int(body["expires_in"]))
    except (TypeError, ValueError):
        expires_at = None
    scope = body.get("scope") or ""
    scopes = tuple(part for part in str(scope).replace(",", " ").split() if part)
    return TokenSet(
        access_token=access_token,
        # Providers that do not rotate refresh tokens omit it on refresh: keep the one we had.
        refresh_token=str(body.get("refresh_token") or previous_refresh_token or ""),
        expires_at=expires_at,
        scopes=scopes,
        extra={"token_type": str(body.get("token_type") or "bearer")},
    )


def _token_request(provider: Provider, data: dict) -> dict:
    response = _request(
        provider,
        "POST",
        provider.token_url,
        data={**data, "client_id": provider.client_id, "client_secret": provider.client_secret},
        headers={"Accept": "application/json"},
    )
    body = _json(response)
    _raise_for_error(provider, response, body)
    return body


def code_exchange(provider: Provider, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
    """Trade an authorization code for tokens at the provider's token endpoint."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier:
        data["code_verifier"] = code_verifier
    return _token_set(provider, _token_request(provider, data))


def token_refresh(provider: Provider, *, refresh_token: str) -> TokenSet:
    """Get a fresh access token with the refresh token."""
    body = _token_request(provider, {"grant_type": "refresh_token", "refresh_token": refresh_token})
    return _token_set(provider, body, previous_refresh_token=refresh_token)


def account_name(provider: Provider, *, access_token: str) -> str:
    """Name the account or workspace a token acts for, from the provider's userinfo endpoint ("" without one)."""
    if not provider.userinfo_url or not provider.account_field:
        return ""
    response = _request(
        provider,
        provider.userinfo_method,
        provider.userinfo_url,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    body = _json(response)
    _raise_for_error(provider, response, body)
    value = body.get(provider.account_field)
    return value.strip()[:255] if isinstance(value, str) else ""


def token_revoke(provider: Provider, *, credentials: dict) -> bool:
    """Revoke the grant at the provider; False when it has no revocation endpoint."""
    token = credentials.get("refresh_token") or credentials.get("access_token") or ""
    if not provider.revoke_url or provider.revoke_style is None or not token:
        return False
    if provider.revoke_style == RevokeStyle.RFC7009:
        response = _request(provider, "POST", provider.revoke_url, data={"token": token})
    elif provider.revoke_style == RevokeStyle.BEARER_POST:
        access = credentials.get("access_token") or token
        response = _request(provider, "POST", provider.revoke_url, headers={"Authorization": f"Bearer {access}"})
    else:
        response = _request(
            provider,
            "DELETE",
            provider.revoke_url.format(client_id=provider.client_id),
            auth=(provider.client_id, provider.client_secret),
            json={"access_token": credentials.get("access_token") or token},
            headers={"Accept": "application/vnd.github+json"},
        )
    body = _json(response)
    # An already-invalid token is as revoked as it gets.
    if response.status_code in (400, 404) and str(body.get("error", "")).lower() in {"invalid_token", "invalid_grant", ""}:
        return True
    _raise_for_error(provider, response, body)
    return True
