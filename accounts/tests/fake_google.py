"""A local fake of Google's OAuth 2.0 / OpenID Connect endpoints, served over HTTP on 127.0.0.1.

It behaves like Google where our code can tell: registered redirect URIs, single-use codes bound
to their redirect URI and PKCE challenge, Google's error bodies, RS256 id_tokens signed with a key
published at the certs endpoints, and the v2 userinfo format.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from core.testing import LocalHTTPServer

ISSUER = "https://accounts.google.com"
AUTHORIZE_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"
USERINFO_PATH = "/oauth2/v2/userinfo"
CERTS_PATH = "/oauth2/v1/certs"
JWKS_PATH = "/oauth2/v3/certs"
CODE_LIFETIME = 600
TOKEN_LIFETIME = 3599
_SCOPE_URIS = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
    "openid": "openid",
}


def _new_sub() -> str:
    return str(secrets.randbelow(10**21)).zfill(21)


@dataclass
class GoogleAccount:
    """A person's Google account."""

    email: str
    email_verified: bool = True
    given_name: str = "Grace"
    family_name: str = "Hopper"
    picture: str = "https://lh3.googleusercontent.com/a/fake-picture=s96-c"
    sub: str = field(default_factory=_new_sub)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


@dataclass
class _Grant:
    account: GoogleAccount
    redirect_uri: str
    scopes: list[str]
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    location: str | None = None


def _json(status: int, payload: dict) -> _Answer:
    return _Answer(status, json.dumps(payload).encode())


def _oauth_error(error: str, description: str, status: int = HTTPStatus.BAD_REQUEST) -> _Answer:
    return _json(status, {"error": error, "error_description": description})


def _error_page(status: int, text: str) -> _Answer:
    return _Answer(status, text.encode(), "text/html; charset=utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _with_query(url: str, params: dict) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"


def _self_signed_certificate(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class FakeGoogle:
    """Google's authorization, token, userinfo and certs endpoints, with knobs for tests."""

    def __init__(self, *, client_id: str, client_secret: str, redirect_uris: set[str]):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = set(redirect_uris)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(20)
        self._certificate = _self_signed_certificate(self._key)
        self._lock = threading.Lock()
        self._server: LocalHTTPServer | None = None
        self.reset()

    # --- test knobs ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every grant, token and setting of the previous test."""
        with self._lock:
            self.signed_in: GoogleAccount | None = None
            self.deny_consent = False
            self.token_error: str | None = None
            self.id_token_mode = "full"  # "full", "no_picture" (as for some accounts) or "none"
            self.id_token_overrides: dict = {}  # claims to replace, to play a broken or hostile token endpoint
            self.requests: list[tuple[str, str, dict]] = []
            self._grants: dict[str, _Grant] = {}
            self._access_tokens: dict[str, tuple[GoogleAccount, list[str]]] = {}

    def sign_in(self, account: GoogleAccount) -> GoogleAccount:
        """Make `account` the Google account the browser is signed in to."""
        self.signed_in = account
        return account

    def hits(self, path: str) -> list[dict]:
        """The parameters of every request made to `path`."""
        return [params for _, request_path, params in self.requests if request_path == path]

    def consent(self, authorize_url: str) -> str:
        """Play the browser at the consent page; return where Google sends it next."""
        response = requests.get(authorize_url, allow_redirects=False, timeout=5)
        assert response.status_code == HTTPStatus.FOUND, response.text
        return response.headers["Location"]

    # --- server ----------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on a free port of 127.0.0.1 in a background thread."""
        self._server = LocalHTTPServer(type("Handler", (_Handler,), {"fake": self})).start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def base_url(self) -> str:
        return self._server.url

    def provider_settings(self) -> dict:
        """The `SOCIALACCOUNT_PROVIDERS["google"]` endpoint keys pointing at this fake."""
        return {
            "AUTHORIZE_URL": self.base_url + AUTHORIZE_PATH,
            "ACCESS_TOKEN_URL": self.base_url + TOKEN_PATH,
            "IDENTITY_URL": self.base_url + USERINFO_PATH,
            "CERTS_URL": self.base_url + CERTS_PATH,
        }

    def answer(self, method: str, path: str, params: dict, headers: dict) -> _Answer:
        """Route one HTTP request to its endpoint."""
        with self._lock:
            self.requests.append((method, path, params))
            routes = {
                ("GET", AUTHORIZE_PATH): self._authorize,
                ("POST", TOKEN_PATH): self._token,
                ("GET", USERINFO_PATH): self._userinfo,
                ("GET", CERTS_PATH): self._certs,
                ("GET", JWKS_PATH): self._jwks,
            }
            endpoint = routes.get((method, path))
            if endpoint is None:
                return _error_page(HTTPStatus.NOT_FOUND, "Not Found")
            return endpoint(params, headers)

    # --- endpoints -------------------------------------------------------------------------

    def _authorize(self, params: dict, headers: dict) -> _Answer:
        if params.get("client_id") != self.client_id:
            return _error_page(HTTPStatus.UNAUTHORIZED, "Error 401: invalid_client")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return _error_page(HTTPStatus.BAD_REQUEST, "Error 400: redirect_uri_mismatch")
        if params.get("response_type") != "code":
            return _error_page(HTTPStatus.BAD_REQUEST, "Error 400: unsupported_response_type")
        scopes = params.get("scope", "").split()
        if not scopes:
            return _error_page(HTTPStatus.BAD_REQUEST, "Error 400: invalid_request (Missing required parameter: scope)")
        method = params.get("code_challenge_method")
        if method not in (None, "S256", "plain") or (method and not params.get("code_challenge")):
            return _error_page(HTTPStatus.BAD_REQUEST, "Error 400: invalid_request (code_challenge)")
        state = {"state": params["state"]} if "state" in params else {}
        if self.deny_consent:
            return _Answer(HTTPStatus.FOUND, location=_with_query(redirect_uri, {"error": "access_denied", **state}))
        if self.signed_in is None:
            return _error_page(HTTPStatus.BAD_REQUEST, "No Google account signed in (test setup)")
        code = "4/0A" + secrets.token_urlsafe(40)
        self._grants[code] = _Grant(
            account=self.signed_in,
            redirect_uri=redirect_uri,
            scopes=scopes,
            code_challenge=params.get("code_challenge"),
            code_challenge_method=method,
            nonce=params.get("nonce"),
            expires_at=time.time() + CODE_LIFETIME,
        )
        granted = " ".join(_SCOPE_URIS.get(scope, scope) for scope in scopes)
        query = {**state, "code": code, "scope": granted, "authuser": "0", "prompt": "consent"}
        return _Answer(HTTPStatus.FOUND, location=_with_query(redirect_uri, query))

    def _token(self, params: dict, headers: dict) -> _Answer:
        if params.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "Invalid grant_type: " + params.get("grant_type", ""))
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return _oauth_error("invalid_client", "Unauthorized", HTTPStatus.UNAUTHORIZED)
        if self.token_error:
            return _oauth_error(self.token_error, "Bad Request")
        grant = self._grants.get(params.get("code", ""))
        if grant is None or grant.used or grant.expires_at < time.time():
            return _oauth_error("invalid_grant", "Bad Request")
        grant.used = True  # a code is spent by its first exchange, good or bad
        if params.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("redirect_uri_mismatch", "Bad Request")
        pkce_error = self._pkce_error(grant, params.get("code_verifier"))
        if pkce_error:
            return _oauth_error("invalid_grant", pkce_error)
        return _json(HTTPStatus.OK, self._token_response(grant))

    @staticmethod
    def _pkce_error(grant: _Grant, verifier: str | None) -> str | None:
        if grant.code_challenge is None:
            return None
        if not verifier:
            return "Missing code verifier."
        expected = verifier
        if grant.code_challenge_method != "plain":
            expected = _b64url(hashlib.sha256(verifier.encode()).digest())
        return None if secrets.compare_digest(expected, grant.code_challenge) else "Invalid code verifier."

    def _token_response(self, grant: _Grant) -> dict:
        access_token = "ya29." + secrets.token_urlsafe(48)
        self._access_tokens[access_token] = (grant.account, grant.scopes)
        body = {
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(_SCOPE_URIS.get(scope, scope) for scope in grant.scopes),
            "token_type": "Bearer",
        }
        if "openid" in grant.scopes and self.id_token_mode != "none":
            body["id_token"] = self.id_token(grant.account, grant.scopes, access_token=access_token, nonce=grant.nonce)
        return body

    def id_token(self, account: GoogleAccount, scopes: list[str], *, access_token: str, nonce: str | None = None) -> str:
        """Sign an id_token the way Google does (RS256, `kid` header naming the published key)."""
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode()).digest()
        claims = {
            "iss": ISSUER,
            "azp": self.client_id,
            "aud": self.client_id,
            "sub": account.sub,
            "at_hash": _b64url(digest[: len(digest) // 2]),
            "iat": now,
            "exp": now + TOKEN_LIFETIME + 1,
        }
        if "email" in scopes:
            claims.update(email=account.email, email_verified=account.email_verified)
        if "profile" in scopes:
            claims.update(name=account.name, given_name=account.given_name, family_name=account.family_name)
            if self.id_token_mode == "full":
                claims["picture"] = account.picture
        if nonce:
            claims["nonce"] = nonce
        claims.update(self.id_token_overrides)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def _userinfo(self, params: dict, headers: dict) -> _Answer:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        known = self._access_tokens.get(token) if scheme.lower() == "bearer" else None
        if known is None:
            return _json(
                HTTPStatus.UNAUTHORIZED,
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
            )
        account, scopes = known
        info = {"id": account.sub}
        if "email" in scopes:
            info.update(email=account.email, verified_email=account.email_verified)
        if "profile" in scopes:
            info.update(
                name=account.name,
                given_name=account.given_name,
                family_name=account.family_name,
                picture=account.picture,
            )
        return _json(HTTPStatus.OK, info)

    def _certs(self, params: dict, headers: dict) -> _Answer:
        return _json(HTTPStatus.OK, {self.kid: self._certificate})

    def _jwks(self, params: dict, headers: dict) -> _Answer:
        key = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return _json(HTTPStatus.OK, {"keys": [{**key, "kid": self.kid, "alg": "RS256", "use": "sig"}]})


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing: parse the request, ask the fake, write its answer."""

    fake: FakeGoogle
    server_version = "ESF"

    def do_GET(self) -> None:
        self._serve({})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(dict(parse_qsl(self.rfile.read(length).decode())))

    def _serve(self, form: dict) -> None:
        url = urlsplit(self.path)
        params = {**dict(parse_qsl(url.query)), **form}
        headers = {key.lower(): value for key, value in self.headers.items()}
        answer = self.fake.answer(self.command, url.path, params, headers)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        if answer.location:
            self.send_header("Location", answer.location)
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format, *args) -> None:
        """Keep test output quiet."""
