"""Test-only helpers that still run production code paths."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with minimal cost: same code path as production, fast enough for a test suite."""

    time_cost = 1
    memory_cost = 64
    parallelism = 1


def run_together(count: int, work) -> list:
    """Run `work(i)` in `count` threads released at once; return each result or exception.

    Each thread uses its own database connection (closed at the end), so on PostgreSQL the
    calls race as concurrent transactions do in production.
    """
    from django.db import connection

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


async def asgi_http_request(application, *, method: str, path: str, headers=(), body: bytes = b"") -> tuple[int, bytes]:
    """Send one HTTP request to an ASGI application as uvicorn would; return (status, whole body)."""
    import asyncio

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"localhost"), (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    delivered, requested, status, parts = asyncio.Event(), [], [], []

    async def receive():
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": body, "more_body": False}
        await delivered.wait()  # then the client stays until the response is complete
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                delivered.set()

    await application(scope, receive, send)
    return status[0], b"".join(parts)


class LocalHTTPServer:
    """A test fake's HTTP server on 127.0.0.1 (a free port unless `port` is given), bound until `stop()`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, port: int = 0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalHTTPServer":
        """Serve from a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the serving thread, if any, and release the port."""
        if self._thread is not None:
            # Only a running serve_forever() answers shutdown(): without one it would wait forever.
            self.httpd.shutdown()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> "LocalHTTPServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


# --- response leak guard (root conftest) -----------------------------------------------------
# Markers of password hashes: none may ever appear in a response body.
HASH_MARKERS = (b"argon2$argon2", b"$argon2id$", b"$argon2i$", b"pbkdf2_sha256$", b"bcrypt_sha256$", b"scrypt$")
# Stored-secret columns (hashes, encrypted or wrapped secrets); `prev_hash`/`hash` of the audit
# chain are public by design.
_SECRET_FIELD = re.compile(r"^(password|secret|wrapped_key|.+_hash|.+_secret|.*encrypted.*)$")
_PUBLIC_FIELDS = {"prev_hash"}
# Plaintext secrets a response may show once (API key secret, backup codes): never again after.
_SHOWN_ONCE_KEYS = (b'"secret"', b'"backup_codes"')
_MIN_SECRET_LENGTH = 12


class ResponseLeakGuard:
    """Fail a test when a response body holds a password hash or a secret it must never show again."""

    def __init__(self):
        self.forbidden: dict[str, str] = {}
        self._fields_by_model: dict[type, list[str]] = {}

    def forbid(self, value, why: str) -> None:
        """Forbid `value` (a string, or a list of them) in every later response of this test."""
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, str) and len(item) >= _MIN_SECRET_LENGTH:
                self.forbidden[item] = why

    def on_save(self, sender, instance, **kwargs) -> None:
        fields = self._fields_by_model.get(sender)
        if fields is None:
            fields = [field.attname for field in sender._meta.concrete_fields if _SECRET_FIELD.match(field.name) and field.name not in _PUBLIC_FIELDS]
            self._fields_by_model[sender] = fields
        for name in fields:
            self.forbid(getattr(instance, name, None), f"{sender.__name__}.{name}")

    def check(self, body: bytes, where: str) -> None:
        for marker in HASH_MARKERS:
            if marker in body:
                raise AssertionError(f"{where}: response body holds a password hash ({marker.decode()!r})")
        if self.forbidden:
            text = body.decode("utf-8", "replace")
            for value, why in self.forbidden.items():
                if value in text:
                    raise AssertionError(f"{where}: response body holds a secret that must not be shown ({why})")
        if any(key in body for key in _SHOWN_ONCE_KEYS):
            self._remember_shown(body)

    def _remember_shown(self, body: bytes) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            return
        if isinstance(data, dict):
            self.forbid(data.get("secret"), "secret shown at creation")
            self.forbid(data.get("backup_codes"), "backup code already shown")

    def check_response(self, response, where: str) -> None:
        if getattr(response, "streaming", False):
            return  # downloads and exports: their bodies are the caller's own data
        self.check(response.content, where)


def leak_guard_install(guard: ResponseLeakGuard):
    """Scan every test-client response with `guard`; return a function that undoes it."""
    from django.db.models.signals import post_save
    from django.test.client import Client

    original = Client.request

    def request(self, **kwargs):
        response = original(self, **kwargs)
        guard.check_response(response, f"{kwargs.get('REQUEST_METHOD', 'GET')} {kwargs.get('PATH_INFO', '')}")
        return response

    Client.request = request
    post_save.connect(guard.on_save, weak=False, dispatch_uid="core.testing.leak_guard")

    def uninstall():
        Client.request = original
        post_save.disconnect(dispatch_uid="core.testing.leak_guard")

    return uninstall
