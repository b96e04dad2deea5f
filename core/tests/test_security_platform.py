"""Platform rules of API.md v1.1, each tried as the attack: one client IP (6), bad bodies are 4xx (7), no tokens in logs."""

import asyncio
import logging
import runpy
import time
from pathlib import Path

import pytest
import uvicorn
import yaml
from django.conf import settings as django_settings
from django.core.exceptions import RequestDataTooBig
from django.test import RequestFactory
from django.utils.module_loading import import_string
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.asgi import RequestBodyLimitMiddleware
from core.exceptions import exception_handler, handler400
from core.http import client_ip
from core.logging import SecretRedactionFilter, secrets_redact
from core.parsers import MAX_JSON_DEPTH, JSONParser, json_depth

ROOT = Path(django_settings.BASE_DIR)
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"


@pytest.fixture
def proxies(settings):
    """Set NUM_PROXIES (REST_FRAMEWORK's, which core.http.client_ip reads) for one test."""

    def set_to(count: int) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return set_to


def wrong_login(client, email, **extra):
    return client.post(LOGIN, {"email": email, "password": "wrong-wrong-1"}, format="json", **extra).status_code


# --- Finding 8: one client IP, never the client's choice ------------------------------------------


@pytest.mark.django_db
def test_spraying_with_a_rotating_forged_forwarded_for_is_locked_out_without_proxies(settings, proxies):
    # given: no proxy in front (NUM_PROXIES=0), one attacker address, a new forged header and a new account each try
    proxies(0)
    settings.AXES_FAILURE_LIMIT = 3
    targets = UserFactory.create_batch(5)
    attacker = APIClient(REMOTE_ADDR="203.0.113.50")

    # when
    statuses = [wrong_login(attacker, user.email, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}") for n, user in enumerate(targets)]

    # then: the header is ignored, the one real address is locked
    assert statuses == [401, 401, 429, 429, 429]


@pytest.mark.django_db
def test_behind_one_proxy_the_right_most_hop_is_locked_and_nobody_else(settings, proxies):
    # given: one proxy (NUM_PROXIES=1); every request reaches the app from the proxy's address
    proxies(1)
    settings.AXES_FAILURE_LIMIT = 3
    victim = UserFactory()
    targets = UserFactory.create_batch(4)
    via_proxy = APIClient(REMOTE_ADDR="10.0.0.2")

    # when: the attacker (203.0.113.7) forges left-most entries, the victim's address among them
    statuses = [wrong_login(via_proxy, user.email, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.99, 203.0.113.7") for n, user in enumerate(targets)]
    victim_login = via_proxy.post(LOGIN, {"email": victim.email, "password": DEFAULT_PASSWORD}, format="json", HTTP_X_FORWARDED_FOR="203.0.113.99")

    # then: the attacker's real address is locked; the victim, through the same proxy, is not
    assert statuses == [401, 401, 429, 429]
    assert victim_login.status_code == 200, victim_login.content


def test_lockouts_read_the_one_client_ip_function():
    assert import_string(django_settings.AXES_CLIENT_IP_CALLABLE) is client_ip


@pytest.mark.django_db
def test_anonymous_throttle_counts_the_right_most_hop_not_the_forged_ones(settings, proxies):
    proxies(1)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"},
    }
    client = APIClient(REMOTE_ADDR="10.0.0.2")

    statuses = [client.get("/api/v1/auth/setup-status", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7").status_code for n in range(3)]
    other = client.get("/api/v1/auth/setup-status", HTTP_X_FORWARDED_FOR="203.0.113.8")

    assert statuses == [200, 200, 429]
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("count", "remote", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "198.51.100.1", "203.0.113.5"),  # no proxy: the header is ignored
        (1, "10.0.0.2", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # right-most hop
        (2, "10.0.0.2", "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "10.0.0.2", "203.0.113.7", "203.0.113.7"),  # fewer hops than proxies: still one of ours
        (1, "10.0.0.2", "203.0.113.7:51234", "203.0.113.7"),
        (1, "10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
        (1, "10.0.0.2", "6.6.6.6, not-an-ip", None),  # a garbled trusted hop is unknown, never the forged one
        (0, "not-an-ip", "", None),
    ],
)
def test_client_ip(proxies, count, remote, forwarded, expected):
    proxies(count)
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def _serve_once(app, *, client: tuple[str, int], headers: list[tuple[bytes, bytes]]) -> list[dict]:
    """Drive one HTTP request through an ASGI app; returns what it sent."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "", "headers": headers,
        "client": client, "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return sent


def _asgi_worker_client(worker_class, forwarded_for: bytes) -> str:
    """The client address an ASGI worker class hands the app, uvicorn told to trust every peer (compose's old "*")."""
    seen = {}

    async def probe(scope, receive, send):
        seen["client"] = scope["client"]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = uvicorn.Config(app=probe, forwarded_allow_ips="*", proxy_headers=worker_class.CONFIG_KWARGS.get("proxy_headers", True))
    server.load()
    _serve_once(server.loaded_app, client=("203.0.113.50", 40000), headers=[(b"x-forwarded-for", forwarded_for)])
    return seen["client"][0]


def _wsgi_worker_client(forwarded_for: bytes) -> str:
    """REMOTE_ADDR in the environ gunicorn builds for its own (WSGI) workers, every peer trusted."""
    from gunicorn.config import Config
    from gunicorn.http import wsgi
    from gunicorn.http.message import Request
    from gunicorn.http.unreader import IterUnreader

    cfg = Config()
    cfg.set("forwarded_allow_ips", "*")
    raw = b"GET / HTTP/1.1\r\nHost: api\r\nX-Forwarded-For: " + forwarded_for + b"\r\n\r\n"
    peer = ("203.0.113.50", 40000)
    _, environ = wsgi.create(Request(cfg, IterUnreader([raw]), peer, 1), None, peer, ("127.0.0.1", 8000), cfg)
    return environ["REMOTE_ADDR"]


@pytest.mark.parametrize("name", ["configured", "core.wsgi_worker.ThreadWorker", "core.asgi_worker.UvicornWorker"])
def test_the_web_server_never_takes_the_client_address_from_forwarded_headers(name):
    # given: the worker class gunicorn.conf.py names (and each of the two the deployment runs)
    if name == "configured":
        name = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["worker_class"]
    worker_class = import_string(name)

    # when: a client sends its own X-Forwarded-For straight to the server
    if hasattr(worker_class, "CONFIG_KWARGS"):  # uvicorn's workers
        client = _asgi_worker_client(worker_class, b"6.6.6.6")
    else:
        client = _wsgi_worker_client(b"6.6.6.6")

    # then: the peer stays the peer; the app alone reads the header, with NUM_PROXIES
    assert client == "203.0.113.50"


def test_compose_does_not_trust_every_peer_for_forwarded_headers():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]["environment"]

    assert "*" not in str(web.get("FORWARDED_ALLOW_IPS", ""))
    assert "*" not in runpy.run_path(str(ROOT / "gunicorn.conf.py"))["forwarded_allow_ips"]


# --- Finding 12: bad bodies are 4xx, in the envelope, never an ERROR log ----------------------------


def _errors_logged(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def _deep(depth: int) -> str:
    return '{"email": ' + "[" * depth + "1" + "]" * depth + ', "password": "x"}'


@pytest.mark.django_db
@pytest.mark.parametrize("path", [LOGIN, REGISTER])
def test_deeply_nested_json_is_400_not_500(path, caplog):
    response = APIClient().post(path, _deep(50_000), content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert str(MAX_JSON_DEPTH) in response.json()["error"]["message"]
    assert _errors_logged(caplog) == []


@pytest.mark.django_db
def test_json_just_past_the_depth_limit_is_400_and_within_it_is_parsed(caplog):
    too_deep = APIClient().post(REGISTER, _deep(MAX_JSON_DEPTH), content_type="application/json")
    fine = APIClient().post(REGISTER, _deep(MAX_JSON_DEPTH - 2), content_type="application/json")

    assert too_deep.status_code == 400
    assert "nested" in too_deep.json()["error"]["message"]
    # Within the limit the body is parsed and validated as usual (the email is not a string).
    assert fine.status_code == 400 and "email" in fine.json()["error"]["details"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        (LOGIN, "application/json", '{"email": "' + "a" * (3 * 1024 * 1024) + '", "password": "x"}'),
        (LOGIN, "application/x-www-form-urlencoded", "email=" + "a" * (3 * 1024 * 1024) + "&password=x"),
        (REGISTER, "application/json", '{"email": "' + "a" * (3 * 1024 * 1024) + '", "password": "x"}'),
    ],
)
def test_a_body_over_the_limit_is_413_payload_too_large(path, content_type, body, caplog):
    response = APIClient().post(path, body, content_type=content_type)

    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["request_id"] == response["X-Request-ID"]
    assert _errors_logged(caplog) == []


def test_a_body_too_big_for_django_inside_a_drf_view_is_413(caplog):
    response = exception_handler(RequestDataTooBig("too big"), {})

    assert response.status_code == 413
    assert response.data["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert _errors_logged(caplog) == []


def test_a_body_too_big_outside_drf_is_413():
    response = handler400(RequestFactory().post("/admin/login/"), RequestDataTooBig("too big"))

    assert response.status_code == 413
    assert b"PAYLOAD_TOO_LARGE" in response.content


def test_the_default_parser_refuses_depth_without_recursing():
    from io import BytesIO

    with pytest.raises(ParseError):
        JSONParser().parse(BytesIO(("[" * 100_000).encode()), "application/json", {})
    assert JSONParser().parse(BytesIO(b'{"a": ["[[[[", {"b": "\\"]]"}]}'), "application/json", {}) == {"a": ["[[[[", {"b": '"]]'}]}
    assert django_settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] == ["core.parsers.JSONParser"]


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "]"]', 1),  # brackets inside strings do not nest
        ('["\\"[[[", "x\\\\"]', 1),  # escaped quote inside, escaped backslash before the closing quote
        ('"unterminated [[[', 3),  # invalid JSON counts conservatively (json.loads refuses it anyway)
    ],
)
def test_json_depth(text, depth):
    assert json_depth(text) == depth


def test_json_depth_stays_linear_on_adversarial_strings():
    # Quotes behind escapes, never closed: a backtracking string regex would take hours here.
    started = time.monotonic()
    json_depth('"' + '\\"' * 1_000_000)
    json_depth("[" * 1_000_000)
    assert time.monotonic() - started < 2


# --- Bodies cut off at the ASGI layer, while they stream in -------------------------------------


def _post(app, path: str, chunks: list[bytes], *, declared: int | None = None) -> tuple[list[dict], int]:
    """POST `chunks` (one ASGI message each) through `app`; returns what was sent and how many chunks were pulled."""
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        await asyncio.sleep(3600)  # a client that sent everything just waits

    async def send(message):
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"x-request-id", b"big-1")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("203.0.113.5", 40000), "server": ("testserver", 80),
    }  # fmt: skip

    async def run():
        await asyncio.wait_for(app(scope, receive, send), timeout=30)

    asyncio.run(run())
    return sent, pulled


def _status(sent: list[dict]) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_a_declared_length_over_the_limit_is_413_unread_and_never_reaches_the_app():
    reached = []

    async def app(scope, receive, send):
        reached.append(scope)

    sent, pulled = _post(RequestBodyLimitMiddleware(app), LOGIN, [b"x" * 1024], declared=50 * 1024 * 1024)

    assert _status(sent) == 413 and pulled == 0 and reached == []
    assert b"PAYLOAD_TOO_LARGE" in sent[-1]["body"] and b'"request_id": "big-1"' in sent[-1]["body"]


def test_a_chunked_body_is_cut_off_at_the_limit_by_the_real_application():
    # given: the served application, a 1 MB chunk at a time, 40 MB in all, no Content-Length
    from config.asgi import application

    chunk = b"x" * (1024 * 1024)

    sent, pulled = _post(application, LOGIN, [chunk] * 40)

    # then: refused at the chunk that crossed DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB); Django buffered no more
    assert _status(sent) == 413
    assert pulled == 3
    assert len([m for m in sent if m["type"] == "http.response.start"]) == 1  # Django answered nothing more


def test_a_body_within_the_limit_goes_through_untouched():
    received = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent, _ = _post(RequestBodyLimitMiddleware(app), LOGIN, [b"{}", b"  "], declared=4)

    assert _status(sent) == 204 and b"".join(received) == b"{}  "


# --- The WebSocket `?token=` fallback never lands in a log line -----------------------------------


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def capture():
    """Capture what the servers' access and error loggers write (their own handlers, as under gunicorn)."""
    handler = Capture()
    names = ("uvicorn.access", "uvicorn.error", "gunicorn.access")
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


def test_access_lines_of_the_servers_carry_no_token(capture):
    # when: the lines uvicorn (HTTP access, WebSocket handshake) and gunicorn write, in their own formats
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "203.0.113.5:40000", "GET", f"/ws?org=o-1&token={TOKEN}", "1.1", 101)
    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "203.0.113.5:40000", f"/ws?token={TOKEN}&org=o-1")
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s', {"h": "203.0.113.5", "r": f"GET /api/v1/integrations/oauth/gmail/callback?code={TOKEN}&state=s HTTP/1.1", "s": "201"}
    )

    # then
    assert len(capture.lines) == 3
    assert not [line for line in capture.lines if TOKEN in line]
    assert "/ws?org=o-1&token=[redacted]" in capture.lines[0]
    assert "/ws?token=[redacted]&org=o-1" in capture.lines[1]
    assert "code=[redacted]&state=s" in capture.lines[2]


def test_the_app_log_handler_redacts_too():
    console = django_settings.LOGGING["handlers"]["console"]
    record = logging.LogRecord("messaging.consumers", logging.INFO, __file__, 1, "connect %s", (f"/ws?token={TOKEN}",), None)

    SecretRedactionFilter().filter(record)

    assert "redact_secrets" in console["filters"]
    assert record.getMessage() == "connect /ws?token=[redacted]"
    assert secrets_redact("/api/v1/plans?code=pro") == "/api/v1/plans?code=[redacted]"
    assert secrets_redact("/api/v1/orgs?page=2&limit=5") == "/api/v1/orgs?page=2&limit=5"
