"""JWTs (simplejwt) and the one function that decides what an access token claims."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User, UserSession
from core import clock, hooks
from core.memo import memo_scope


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str | None
    expires_in: int
    session: UserSession

    def as_response(self) -> dict:
        body = {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


def auth_method_base(auth_method: str) -> str:
    """The first factor of a sign-in method ("sso+passkey" → "sso")."""
    return (auth_method or "").split("+", 1)[0]


def new_jti() -> str:
    """Return a fresh random token id."""
    return uuid.uuid4().hex


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (one-time tokens): enough, since it cannot be guessed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def random_secret() -> str:
    """Return 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_claims(*, user: User, session: UserSession) -> dict:
    """Return the contract's access-token claims for this user and session."""
    # The org's and the permissions' hooks both read the session's membership: once (core.memo).
    with memo_scope():
        return _token_claims(user=user, session=session)


def _token_claims(*, user: User, session: UserSession) -> dict:
    org_claims = hooks.token_claims(
        user=user,
        organization_id=session.organization_id,
    )
    org_id = str(org_claims["org_id"]) if org_claims.get("org_id") else None
    claims = {
        "sub": str(user.id),
        "email": user.email,
        "sid": str(session.id),
        "mfa": bool(session.mfa_verified),
        "org_id": org_id,
        "role": org_claims.get("role"),
        "plan": org_claims.get("plan"),
        "features": org_claims.get("features") or {},
        # Display only (the server re-checks every request): the effective permissions at issue time,
        # judged with this session's facts (MFA, IP), so a client can hide what would be refused.
        "permissions": _permission_claims(user=user, session=session, organization_id=org_id),
        "act": None,
    }
    if session.impersonator_id:
        claims["act"] = {"sub": str(session.impersonator_id), "email": session.impersonator.email}
    if auth_method_base(session.auth_method) == "sso":  # "sso+passkey" too
        # Signed in through the org's IdP (sso app): RFC 8176-style authentication methods reference.
        claims["amr"] = ["sso"]
    return claims


def _permission_claims(*, user: User, session: UserSession, organization_id) -> list[str]:
    if organization_id is None:
        return []
    return sorted(hooks.permission_claims(user=user, organization_id=organization_id, mfa=bool(session.mfa_verified), ip=session.ip))


def access_lifetime(session: UserSession) -> timedelta:
    """Access-token lifetime: configured, and never past the end of an impersonation session."""
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    if session.impersonator_id:
        # Re-issued tokens (switch-org) must not outlive the impersonation session itself.
        remaining = max(session.expires_at - clock.now(), timedelta(seconds=1))
        lifetime = min(lifetime, timedelta(minutes=settings.IMPERSONATION_MINUTES), remaining)
    return lifetime


def issue_access(*, user: User, session: UserSession) -> tuple[str, int]:
    """Sign an access token for the session; return (token, seconds until expiry)."""
    token = AccessToken()
    lifetime = access_lifetime(session)
    token.set_exp(lifetime=lifetime)
    for claim, value in token_claims(user=user, session=session).items():
        token[claim] = value
    return str(token), int(lifetime.total_seconds())


def issue_refresh(*, user: User, session: UserSession, jti: str) -> str:
    """Sign a refresh token that carries only who, which session and which rotation step."""
    token = RefreshToken()
    token["jti"] = jti
    token["sub"] = str(user.id)
    token["sid"] = str(session.id)
    return str(token)


def issue_pair(*, user: User, session: UserSession, with_refresh: bool = True) -> TokenPair:
    """Sign access (+ refresh for the session's current jti) tokens."""
    access, expires_in = issue_access(user=user, session=session)
    refresh = issue_refresh(user=user, session=session, jti=session.refresh_jti) if with_refresh else None
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in, session=session)
