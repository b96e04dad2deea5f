"""`Authorization: Api-Key <secret>`: a request made for the key's creator in its organization, within the key's scopes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import AllowAny

from accounts.authentication import TokenAuthError
from core.actor import Principal
from core.errors import ErrorCode
from core.http import client_ip
from permissions.models import ApiKey

# DRF imports every DEFAULT_AUTHENTICATION_CLASSES entry while `rest_framework.views` itself is
# loading, so this module must not import at load time anything that imports DRF views
# (core.exceptions, permissions.drf, permissions.apikeys): those are imported where used.

KEYWORD = b"api-key"


class ApiKeyPrincipal:
    """The `request.user` of a key's request: authenticated, yet no user (`request.auth` names the key)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_api_key = True
    email = ""
    full_name = first_name = last_name = ""

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        # The key's own id, never a user's: per-user throttles then count each key apart, and
        # anything that records `request.user.pk` names the key. No user row has this id.
        self.pk = self.id = api_key.id

    def get_username(self) -> str:
        return ""

    def __str__(self) -> str:
        return f"api-key:{self.api_key.public_prefix}"


def _is_public(view) -> bool:
    try:
        return all(isinstance(permission, AllowAny) for permission in view.get_permissions())
    except Exception:  # a view that cannot even list its permissions is not public
        return False


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate `Api-Key <secret>`; the key works only on org-scoped routes (OrgScopedMixin views).

    401 TOKEN_INVALID for an unknown, garbled, revoked or rotated-out secret, for a client IP
    outside a non-empty allowlist (indistinguishable on purpose) and for a key whose creator is no
    longer an active member of its org (or that has no creator); 401 TOKEN_EXPIRED once expired;
    403 INSUFFICIENT_PERMISSIONS on a route that needs a user (e.g. /users/me).
    """

    def authenticate(self, request):
        from permissions import apikeys, engine
        from permissions.drf import OrgScopedMixin

        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be `Api-Key <secret>`.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise TokenAuthError(ErrorCode.TOKEN_INVALID, "API key is invalid.") from None
        ip = client_ip(request)
        try:
            api_key = apikeys.api_key_authenticate(secret=secret, ip=ip)
        except apikeys.ApiKeyRejected as exc:
            raise TokenAuthError(exc.code, exc.message) from exc
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if not isinstance(view, OrgScopedMixin):
            if view is not None and _is_public(view):
                return None  # a public route: the key is not needed, so the call is anonymous
            # User-only routes (profile, sessions, MFA, orgs of a user...) would treat the key as a
            # person; refuse them here, in one place, instead of in every such view.
            raise exceptions.PermissionDenied(exceptions.ErrorDetail("API keys can only call organization routes.", code=ErrorCode.INSUFFICIENT_PERMISSIONS))
        # A key acts for its creator: once they left the org or were suspended it is dead, as if
        # revoked (the subject is remembered on the key, so the permission check reuses it).
        if engine.api_key_subject(api_key=api_key).user_id is None:
            raise TokenAuthError(ErrorCode.TOKEN_INVALID, "API key is invalid.")
        apikeys.api_key_touch(api_key=api_key, ip=ip)
        return ApiKeyPrincipal(api_key), Principal.for_api_key(api_key)

    def authenticate_header(self, request):
        return 'Api-Key realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "permissions.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_requirement(self, auto_schema):
        from permissions.drf import OrgScopedMixin

        # Only org-scoped operations accept a key; the others must not advertise it.
        if isinstance(auto_schema.view, OrgScopedMixin):
            return {self.name: []}
        return None

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "Organization API key: `Api-Key sk_live_<prefix>_<secret>` (listed keys show `sk_live_<prefix>`). Acts on its own organization "
                "for the member who created it, with its scopes intersected with what that member may do "
                "now (their policies apply), on org-scoped routes only (403 elsewhere). 401 TOKEN_INVALID "
                "for an unknown, revoked or rotated-out key, a client IP outside its allowlist, or a key "
                "whose creator left the organization or is suspended; 401 TOKEN_EXPIRED once expired."
            ),
        }
