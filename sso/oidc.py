"""OIDC connections on allauth's `openid_connect` provider: discovery checked on write, nonce and ID-token checks at sign-in.

allauth runs the round trip (state stashed in the browser's session, PKCE, code exchange); these
subclasses add what a per-org IdP needs on top of it:
- the callback is our route (`auth:sso-callback`), not allauth's URL map;
- a `nonce` is sent and stashed with the state (checked in `sso.signin`, against the ID token);
- the ID token's signature is always checked against the IdP's JWKS (allauth skips it when the
  token came straight from the token endpoint), asymmetric algorithms only, `exp`/`iat`/`iss`/`aud`
  required;
- every server-side request of a sign-in (discovery, token, userinfo, JWKS) goes through the SSRF
  guard of `sso.fetch`, and the endpoints the discovery document names are checked on write and
  again at each sign-in (the IdP may change its document after the connection was saved).
"""

import json
import logging
import secrets

import jwt
import requests
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.utils import generate_code_challenge
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import HttpRequest
from django.urls import reverse

from core.exceptions import ApplicationError, validation_error
from sso import fetch

logger = logging.getLogger(__name__)

CALLBACK_URL_NAME = "auth:sso-callback"
WELL_KNOWN = "/.well-known/openid-configuration"
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_SECONDS = 60
# The endpoints a discovery document names; all but the first are requested server-side.
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


def callback_url(request: HttpRequest, connection_id) -> str:
    """The redirect URI the IdP must allow for this connection."""
    from sso.services import absolute_url

    return absolute_url(request, reverse(CALLBACK_URL_NAME, kwargs={"connection_id": connection_id}))


def issuer_normalize(issuer: str) -> str:
    return (issuer or "").strip().removesuffix(WELL_KNOWN).rstrip("/")


def discovery_fetch(issuer: str) -> dict:
    """Fetch and check the IdP's discovery document (400 naming `oidc.issuer` when it does not fit)."""
    field = "oidc.issuer"
    body = fetch.document_fetch(issuer + WELL_KNOWN, field=field)
    try:
        config = json.loads(body)
    except ValueError:
        raise validation_error(field, "The discovery document is not JSON.") from None
    if not isinstance(config, dict):
        raise validation_error(field, "The discovery document is not a JSON object.")
    # userinfo_endpoint too: sign-ins read the e-mail there (`fetch_userinfo`).
    missing = [key for key in ("issuer", *ENDPOINTS) if not isinstance(config.get(key), str)]
    if missing:
        raise validation_error(field, f"The discovery document lacks {', '.join(missing)}.")
    for key in ENDPOINTS:
        # The document is the tenant's too: an endpoint at 127.0.0.1 or 169.254.169.254 is an SSRF.
        try:
            fetch.url_check(config[key], field=field)
        except ApplicationError as exc:
            raise validation_error(field, f"The discovery document's {key} is refused: {exc.message}") from None
    if issuer_normalize(config["issuer"]) != issuer:
        # OIDC Discovery §4.3: the issuer in the document must be the one it was fetched for.
        raise validation_error(field, f"The IdP calls itself {config['issuer']}, not {issuer}.")
    if "code" not in (config.get("response_types_supported") or ["code"]):
        raise validation_error(field, "The IdP does not support the authorization code flow.")
    methods = config.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise validation_error(field, "The IdP does not support PKCE with S256.")
    return config


def _unavailable() -> ImmediateHttpResponse:
    from accounts import oauth
    from sso.signin import SSOError

    return ImmediateHttpResponse(oauth.frontend_redirect(error=str(SSOError.SSO_UNAVAILABLE)))


class SSOOIDCAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's OIDC adapter, calling back to our route, requesting through the guard, verifying every ID token's signature."""

    @property
    def openid_config(self) -> dict:
        # Fetched again at each sign-in (as allauth does) through the guard, and checked as on write.
        if not hasattr(self, "_openid_config"):
            issuer = self.get_provider().app.settings["server_url"]
            try:
                self._openid_config = discovery_fetch(issuer)
            except ApplicationError as exc:
                logger.warning("SSO discovery refused for %s: %s", issuer, exc.message)
                raise _unavailable() from None
        return self._openid_config

    def get_callback_url(self, request: HttpRequest, app) -> str:
        return callback_url(request, self.provider_id)

    def get_access_token_data(self, request: HttpRequest, app, client, pkce_code_verifier=None):
        with fetch.idp_requests_guarded():  # allauth's code exchange asks the adapter for its session
            return super().get_access_token_data(request, app, client, pkce_code_verifier=pkce_code_verifier)

    def complete_login(self, request: HttpRequest, app, token, **kwargs):
        if not kwargs["response"].get("id_token"):
            # Without an ID token there is no nonce nor audience to check: not an OIDC sign-in.
            raise OAuth2Error("The IdP returned no id_token")
        with fetch.idp_requests_guarded():  # the userinfo request
            return super().complete_login(request, app, token, **kwargs)

    def _decode_id_token(self, app, id_token: str) -> dict:
        config = self.openid_config
        try:
            header = jwt.get_unverified_header(id_token)
            algorithm = header.get("alg")
            if algorithm not in ID_TOKEN_ALGORITHMS:
                raise OAuth2Error(f"ID token algorithm {algorithm!r} is not accepted")
            with fetch.idp_session() as session:
                response = session.get(config["jwks_uri"])
                response.raise_for_status()
                jwks = jwt.PyJWKSet.from_dict(response.json())
            kid = header.get("kid")
            keys = [key for key in jwks.keys if kid is None or key.key_id == kid]
            if len(keys) != 1:
                raise OAuth2Error("No single JWKS key matches the ID token")
            claims = jwt.decode(
                id_token,
                key=keys[0].key,
                algorithms=[algorithm],
                audience=app.client_id,
                issuer=config["issuer"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, requests.RequestException, KeyError, TypeError, ValueError) as exc:
            raise OAuth2Error(f"Invalid id_token: {type(exc).__name__}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != app.client_id:
            raise OAuth2Error("Invalid id_token: azp")
        return claims


class SSOOIDCProvider(OpenIDConnectProvider):
    """allauth's OIDC provider for one connection, sending a nonce stashed with the state."""

    oauth2_adapter_class = SSOOIDCAdapter

    def get_pkce_params(self) -> dict:
        # Always PKCE (S256), whatever the app settings say.
        return generate_code_challenge()

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        auth_params = dict(self.get_auth_params() if auth_params is None else auth_params)
        auth_params["nonce"] = nonce
        try:
            # `nonce` lands in the state allauth stashes in this browser's session (checked by sso.signin).
            return super().redirect(request, process, next_url=next_url, data=data, auth_params=auth_params, nonce=nonce, **kwargs)
        except ImmediateHttpResponse as exc:  # the discovery document was refused (SSOOIDCAdapter.openid_config)
            return exc.response
