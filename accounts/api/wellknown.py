"""`/.well-known/jwks.json` and `/.well-known/openid-configuration`: what another service needs to verify our tokens.

Public, unauthenticated, served from the process's key ring (no query per request) with cache
headers: a verifier that meets an unknown `kid` fetches the set again (PyJWKClient does).
"""

import hashlib
import json

from django.db import transaction
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from accounts import signing_keys
from core.exceptions import handler404

# Short enough that a verifier caching the set by these headers sees a rotation within minutes.
JWKS_MAX_AGE = 300


def _json(request, body: dict) -> HttpResponse:
    content = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(content, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    # Public keys: any origin may read them (a browser-side verifier, an API gateway's console).
    response["Access-Control-Allow-Origin"] = "*"
    return response


@transaction.non_atomic_requests
@require_safe
def jwks(request):
    """The JWK Set (RFC 7517) of the keys that verify now: current first, then previous ones."""
    if signing_keys.is_shared_secret_mode():
        return handler404(request)  # HS256: a shared secret, nothing anyone else may verify with
    return _json(request, signing_keys.jwks())


@transaction.non_atomic_requests
@require_safe
def openid_configuration(request):
    """The issuer and where its keys are, for discovery-driven JWT verifiers."""
    if signing_keys.is_shared_secret_mode():
        return handler404(request)
    return _json(request, signing_keys.openid_configuration(jwks_uri=f"{signing_keys.issuer()}/.well-known/jwks.json"))


urlpatterns = [
    path("jwks.json", jwks, name="jwks"),
    path("openid-configuration", openid_configuration, name="openid-configuration"),
]
