"""Bearer-JWT authentication that also checks the token's session is still alive."""

from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework_simplejwt import authentication as simplejwt_auth
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.impersonation import impersonation_request_check
from accounts.models import User, UserSession
from core.actor import Principal
from core.errors import ErrorCode
from core.ids import parse_uuid
from core.sql import CompiledInstance, CompiledQuery

SESSION_CACHE_SECONDS = 300
_REVOKED = "revoked"
_ACTIVE = "active"


def _session_cache_key(session_id) -> str:
    return f"accounts:session:{session_id}"


def session_state_forget(session_id) -> None:
    """Mark a session revoked in the cache so its access tokens die at once."""
    # Kept longer than any access token lives; after that the database answers anyway.
    cache.set(_session_cache_key(session_id), _REVOKED, timeout=60 * 60 * 24)


def session_is_active(session_id) -> bool:
    """Tell whether the session behind a token is alive, from the cache when possible."""
    key = _session_cache_key(session_id)
    state = cache.get(key)
    if state is None:
        session = _session_times(session_id)
        state = _ACTIVE if session is not None and session.is_active else _REVOKED
        cache.set(key, state, timeout=SESSION_CACHE_SECONDS)
    return state == _ACTIVE


# With the cache away, every request reads its session here: compiled once (core.sql), as the
# ORM's query cost more CPU than running it and the Redis-down throughput is a goal (issue 19).
_SESSION_TIMES = CompiledQuery(UserSession, lambda marker: UserSession.objects.filter(pk=marker.pk).values_list("revoked_at", "expires_at"))


def _session_times(session_id) -> UserSession | None:
    """The session's `revoked_at` and `expires_at` (enough for `is_active`); None: malformed id or no such session."""
    session_id = parse_uuid(session_id)
    rows = _SESSION_TIMES.rows(UserSession(pk=session_id)) if session_id is not None else []
    return UserSession(id=session_id, revoked_at=rows[0][0], expires_at=rows[0][1]) if rows else None


def axes_username(request, credentials=None) -> str | None:
    """The login name django-axes locks on: `email` (API) or `username` (admin form), lower-cased."""
    credentials = credentials or {}
    data = getattr(request, "data", None) or getattr(request, "POST", {}) or {}
    name = credentials.get("email") or credentials.get("username") or data.get("email") or data.get("username")
    return (str(name) if name else "").strip().lower() or None


# Every authenticated request reads its user row: building and compiling `User.objects.get(id=)`
# cost about as much CPU as running it, so it is compiled once (core.sql, issue 17).
_USER_ROW = CompiledInstance(User, lambda marker: User.objects.filter(pk=marker.pk))


def user_of_token(user_id) -> User | None:
    """The user a token's `sub` names (None: malformed or no such user)."""
    user_id = parse_uuid(user_id)
    return _USER_ROW.get(User(pk=user_id)) if user_id is not None else None


class TokenAuthError(exceptions.AuthenticationFailed):
    """401 with a contract code (TOKEN_INVALID / TOKEN_EXPIRED)."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(detail={"detail": message, "code": str(code)})


class JWTAuthentication(simplejwt_auth.JWTAuthentication):
    """`Authorization: Bearer <access>`; refuses revoked sessions and impersonation beyond its allow-list."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        # `request.auth` is the typed principal: the token's claims are read there, once.
        principal = Principal.from_claims(user, token.payload)
        if principal.is_impersonation:
            # Every REST route a bearer token reaches passes here: the one place invariant 5 is
            # enforced, whatever permission classes a view declares (accounts/impersonation.py).
            impersonation_request_check(request)
        return user, principal

    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            token = AccessToken(raw_token)
        except ExpiredTokenError:
            raise TokenAuthError(ErrorCode.TOKEN_EXPIRED, "Token has expired.") from None
        except TokenError:
            raise TokenAuthError(ErrorCode.TOKEN_INVALID, "Token is invalid.") from None
        sid = token.get("sid")
        if not sid or not session_is_active(sid):
            raise TokenAuthError(ErrorCode.TOKEN_INVALID, "Session has been revoked.")
        return token

    def get_user(self, validated_token):
        """simplejwt's lookup (the `sub` claim's user, active), through the compiled user row."""
        if api_settings.USER_ID_FIELD != "id" or api_settings.CHECK_REVOKE_TOKEN:
            try:
                return super().get_user(validated_token)
            except exceptions.AuthenticationFailed:
                raise TokenAuthError(ErrorCode.TOKEN_INVALID, "User not found or inactive.") from None
        user = user_of_token(validated_token.get(api_settings.USER_ID_CLAIM))
        if user is None or (api_settings.CHECK_USER_IS_ACTIVE and not user.is_active):
            raise TokenAuthError(ErrorCode.TOKEN_INVALID, "User not found or inactive.")
        return user

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    # Two ways to the same token: paste it, or let Swagger's Authorize button sign in with
    # the OAuth2 password form that /auth/login also accepts.
    name = ["bearerAuth", "passwordLogin"]

    def get_security_requirement(self, auto_schema):
        """Either scheme on its own (alternatives): one requirement object naming both would demand both."""
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            {"type": "oauth2", "flows": {"password": {"tokenUrl": "/api/v1/auth/login", "scopes": {}}}},
        ]
