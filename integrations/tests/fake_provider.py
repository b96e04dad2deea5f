"""A local OAuth 2.0 provider (authorization server) on 127.0.0.1, for the integrations tests and bench.

It speaks the provider side of RFC 6749/7636/7009 over real HTTP: codes bound to a redirect URI
and a PKCE challenge, refresh tokens that rotate (a spent one is `invalid_grant`), revocation,
client authentication. Tests script failures with `fail_next` (one entry per coming token call):
"500", "timeout", "invalid_grant", "invalid_client", "garbage", "slack_not_ok".
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from core.testing import LocalHTTPServer

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"


class FakeOAuthProvider:
    def __init__(self, *, token_lifetime: int = 3600, timeout_sleep: float = 0.8):
        self.token_lifetime = token_lifetime
        self.timeout_sleep = timeout_sleep
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> access token it belongs to
        self.access_tokens: set[str] = set()
        self.revoked: list[str] = []
        self.fail_next: list[str] = []
        self.delay = 0.0  # seconds every token call takes (to make concurrent refreshes overlap)
        self.token_calls: list[dict] = []
        self.account = "owner@example.com"  # what /userinfo names (email, login and workspace alike)
        self.userinfo_down = False
        self.server: LocalHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "FakeOAuthProvider":
        self.server = LocalHTTPServer(self._handler()).start()
        return self

    def start_forked(self) -> "FakeOAuthProvider":
        """Serve from a forked child process (its own GIL), with the tokens minted so far.

        For benchmarks: the child keeps its state to itself, so only the HTTP answers tell what happened.
        """
        import multiprocessing

        self.server = LocalHTTPServer(self._handler())
        self._process = multiprocessing.get_context("fork").Process(target=self.server.httpd.serve_forever, daemon=True)
        self._process.start()
        return self

    def _handler(self) -> type["_Handler"]:
        return type("Handler", (_Handler,), {"fake": self})

    def stop(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None:
            process.terminate()
            process.join(5)
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def endpoints(self) -> dict:
        """The provider URLs, in the shape of the INTEGRATIONS_PROVIDER_OVERRIDES setting."""
        return {
            "authorize_url": f"{self.url}/authorize", "token_url": f"{self.url}/token",
            "revoke_url": f"{self.url}/revoke", "userinfo_url": f"{self.url}/userinfo",
        }  # fmt: skip

    def install(self, settings) -> None:
        """Point every OAuth provider of the catalog at this fake, with its client credentials."""
        from integrations.providers import CATALOG

        settings.INTEGRATIONS_PROVIDER_OVERRIDES = {key: self.endpoints() for key, p in CATALOG.items() if p.authorize_url}
        for client in {p.client for p in CATALOG.values() if p.client}:
            setattr(settings, f"INTEGRATIONS_{client}_CLIENT_ID", CLIENT_ID)
            setattr(settings, f"INTEGRATIONS_{client}_CLIENT_SECRET", CLIENT_SECRET)

    # --- what a user does in the browser ---------------------------------------------------------

    def consent(self, authorize_url: str) -> dict:
        """Play the user granting access: check the authorize request, mint a code; returns the callback query."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID, query
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {
                "redirect_uri": query["redirect_uri"],
                "challenge": query.get("code_challenge"),
                "method": query.get("code_challenge_method"),
                "scope": query.get("scope", ""),
            }
        return {"code": code, "state": query["state"]}

    # --- tokens ------------------------------------------------------------------------------------

    def mint(self, *, scope: str = "") -> dict:
        """A fresh token pair, as the token endpoint returns it."""
        access, refresh = f"at-{secrets.token_urlsafe(12)}", f"rt-{secrets.token_urlsafe(12)}"
        with self.lock:
            self.access_tokens.add(access)
            self.refresh_tokens[refresh] = access
        return {"access_token": access, "refresh_token": refresh, "expires_in": self.token_lifetime, "token_type": "Bearer", "scope": scope}

    def token(self, form: dict) -> tuple[int, dict]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self.lock:
                issued = self.codes.pop(form.get("code", ""), None)  # codes are single use
            if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "bad code"}
            if issued["challenge"]:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if issued["method"] != "S256" or digest != issued["challenge"]:
                    return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
            return 200, self.mint(scope=issued["scope"])
        if grant == "refresh_token":
            with self.lock:
                # Rotation: a refresh token works once; reuse is refused like real providers do.
                old_access = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if old_access is None:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return 200, self.mint()
        return 400, {"error": "unsupported_grant_type"}

    def userinfo(self, authorization: str) -> tuple[int, dict]:
        """Who a bearer token acts for: Google's `email`, GitHub's `login`, Slack's auth.test `team`."""
        if self.userinfo_down:
            return 503, {"error": "temporarily_unavailable"}
        with self.lock:
            known = authorization.removeprefix("Bearer ") in self.access_tokens
        if not known:
            return 401, {"error": "invalid_token"}
        return 200, {"ok": True, "email": self.account, "login": self.account, "team": self.account}

    def revoke(self, token: str) -> int:
        with self.lock:
            self.revoked.append(token)
            self.refresh_tokens.pop(token, None)
            self.access_tokens.discard(token)
        return 200


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOAuthProvider
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers offer
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):  # keep test output quiet
        pass

    def _form(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return dict(parse_qsl(self.rfile.read(length).decode()))

    def _send(self, status: int, body, content_type: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and hung up
            pass

    def do_GET(self):
        if urlsplit(self.path).path == "/userinfo":
            self._send(*self.fake.userinfo(self.headers.get("Authorization", "")))
            return
        self._send(404, {"error": "not_found"})

    def do_POST(self):
        path = urlsplit(self.path).path
        form = self._form()
        if path == "/userinfo":  # Slack's auth.test is a POST
            self._send(*self.fake.userinfo(self.headers.get("Authorization", "")))
            return
        if path == "/revoke":
            token = form.get("token") or self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send(self.fake.revoke(token), {})
            return
        if path != "/token":
            self._send(404, {"error": "not_found"})
            return
        with self.fake.lock:
            self.fake.token_calls.append({"grant_type": form.get("grant_type"), "at": time.monotonic()})
            failure = self.fake.fail_next.pop(0) if self.fake.fail_next else None
        if self.fake.delay:
            time.sleep(self.fake.delay)
        if failure == "timeout":
            time.sleep(self.fake.timeout_sleep)
            failure = "500"
        if failure == "500":
            self._send(500, b"<html>upstream error</html>", "text/html")
        elif failure == "garbage":
            self._send(200, b"not json at all", "text/plain")
        elif failure == "slack_not_ok":
            self._send(200, {"ok": False, "error": "invalid_refresh_token"})
        elif failure in ("invalid_grant", "invalid_client"):
            self._send(400 if failure == "invalid_grant" else 401, {"error": failure})
        else:
            self._send(*self.fake.token(form))
