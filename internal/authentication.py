"""Signed service-to-service requests: the only way into `/internal/v1/`.

A service sends `X-Service-Name: <name>` and `X-Service-Signature: <unix-ts>:<hex>`, where hex is
HMAC-SHA256(secret, "<ts>.<METHOD>.<path>.<hex sha256(body)>") with its secret from
INTERNAL_SERVICE_KEYS, and <path> is the request path as sent, without the query string. The
timestamp must be within SKEW_SECONDS of ours and a signature is accepted once (docs/internal-api.md).
"""

import hashlib
import hmac
import logging
import re

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from core import clock
from core.actor import Principal, PrincipalKind
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from core.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)

NAME_HEADER = "X-Service-Name"
SIGNATURE_HEADER = "X-Service-Signature"
SKEW_SECONDS = 300
# A seen signature is remembered for as long as its timestamp could still pass the skew check.
REPLAY_WINDOW_SECONDS = 2 * SKEW_SECONDS

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
_SIGNATURE = re.compile(r"(\d{1,12}):([0-9a-fA-F]{64})", re.ASCII)
# Compared against when the service is unknown, so an unknown name costs what a bad signature does.
_NO_SECRET = "internal-api-no-such-service"


def signing_string(*, timestamp: int | str, method: str, path: str, body: bytes) -> bytes:
    """The bytes a service signs: `<ts>.<METHOD>.<path>.<hex sha256(body)>`."""
    return f"{timestamp}.{method.upper()}.{path}.{hashlib.sha256(body).hexdigest()}".encode()


def signature(*, secret: str, timestamp: int | str, method: str, path: str, body: bytes = b"") -> str:
    """The hex HMAC-SHA256 of a request under `secret`."""
    message = signing_string(timestamp=timestamp, method=method, path=path, body=body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, method: str, path: str, body: bytes = b"", timestamp: int | None = None) -> str:
    """The X-Service-Signature value of a request signed now (or at `timestamp`)."""
    timestamp = int(clock.now().timestamp()) if timestamp is None else timestamp
    return f"{timestamp}:{signature(secret=secret, timestamp=timestamp, method=method, path=path, body=body)}"


def _refused(message: str) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(detail={"detail": message, "code": str(ErrorCode.AUTHENTICATION_FAILED)})


def _replay_key(name: str, digest: str) -> str:
    return f"internal:signature:{name}:{digest}"


def _first_use(name: str, digest: str) -> bool | None:
    """Remember a signature; True the first time, False when seen before, None when the cache is down."""
    try:
        # add() is atomic (SET NX in Redis): of two requests with one signature only one gets True.
        added = cache.add(_replay_key(name, digest), 1, timeout=REPLAY_WINDOW_SECONDS)
    except Exception:  # noqa: BLE001  (any cache error: we cannot tell a replay apart, see below)
        logger.exception("replay cache unavailable")
        return None
    # django-redis answers None (not False) when it swallowed a connection error.
    return added if isinstance(added, bool) else None


class ServiceSignatureAuthentication(BaseAuthentication):
    """Authenticate a product service by its request signature (the only authentication of /internal/v1/)."""

    def authenticate(self, request):
        name = request.headers.get(NAME_HEADER, "")
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not name or not header:
            raise _refused(f"{NAME_HEADER} and {SIGNATURE_HEADER} are required.")
        match = _SIGNATURE.fullmatch(header.strip())
        if _NAME.fullmatch(name) is None or match is None:
            raise _refused(f"Malformed {NAME_HEADER} or {SIGNATURE_HEADER}.")
        timestamp, given = match.group(1), match.group(2).lower()
        if abs(clock.now().timestamp() - int(timestamp)) > SKEW_SECONDS:
            raise _refused(f"The signature's timestamp is more than {SKEW_SECONDS} seconds from the server's clock.")
        django_request = request._request
        secret = settings.INTERNAL_SERVICE_KEYS.get(name)
        expected = signature(
            secret=secret or _NO_SECRET,
            timestamp=timestamp,
            method=django_request.method,
            # As sent: core.middleware.OptionalTrailingSlashMiddleware changes only path_info.
            path=django_request.path,
            body=django_request.body,
        )
        # Constant time, and the same work whether or not the service exists.
        if not hmac.compare_digest(expected, given) or not secret:
            raise _refused("Invalid service signature.")
        first = _first_use(name, given)
        if first is None:
            # Fail closed: without the replay cache a captured request could be played again.
            raise ApplicationError(
                code=ErrorCode.SERVICE_UNAVAILABLE,
                message="Request signatures cannot be checked for replay right now.",
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if not first:
            raise _refused("This signature has been used already (replay).")
        return AnonymousUser(), Principal(kind=PrincipalKind.SERVICE, service=name)

    def authenticate_header(self, request):
        return 'Signature realm="internal"'


def service_of(request) -> str | None:
    """The name of the service behind a request, or None when no service signed it."""
    principal = getattr(request, "auth", None)
    if isinstance(principal, Principal) and principal.kind is PrincipalKind.SERVICE:
        return principal.service
    return None


class IsInternalService(BasePermission):
    """Allow only requests a known service signed."""

    def has_permission(self, request, view) -> bool:
        return service_of(request) is not None


class ServiceRateThrottle(ScopedRateThrottle):
    """Per calling service (THROTTLE_INTERNAL), whatever IP it calls from; views set `throttle_scope`."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": service_of(request) or self.get_ident(request)}


class ServiceSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "internal.authentication.ServiceSignatureAuthentication"
    name = ["serviceName", "serviceSignature"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": NAME_HEADER, "description": "The calling service's name (a key of INTERNAL_SERVICE_KEYS)."},
            {
                "type": "apiKey",
                "in": "header",
                "name": SIGNATURE_HEADER,
                "description": '`<unix-ts>:<hex HMAC-SHA256(secret, "<ts>.<METHOD>.<path>.<hex sha256(body)>")>`; see docs/internal-api.md.',
            },
        ]

    def get_security_requirement(self, auto_schema):
        # Both headers together (one requirement), not either of them.
        return {"serviceName": [], "serviceSignature": []}
