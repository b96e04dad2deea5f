"""A local OpenAI-compatible server for tests (and for trying AI chat offline).

A real HTTP server on 127.0.0.1 in a thread: `POST /v1/chat/completions` answers a whole
completion, or with `"stream": true` Server-Sent Events chunks then `data: [DONE]`. Each test
sets `mode` to make it misbehave: an error status, silence (timeouts), an error or a malformed
chunk mid-stream, a stream cut short. It records every request it got and notices when a
client hangs up mid-stream.

Run it by hand for `make run` without a real provider:
    .venv/bin/python -m ai.tests.fake_openai --port 8001
    AI_BASE_URL=http://127.0.0.1:8001/v1 AI_MODEL=fake make run
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from core.testing import LocalHTTPServer

OK = "ok"
STATUS = "status"  # answer `status` with an OpenAI-style error body
SILENT = "silent"  # accept the request, then say nothing until released (client timeout)
MALFORMED = "malformed"  # a 200 whose body is not a completion
ERROR_MID_STREAM = "error_mid_stream"  # a few chunks, then an error event
MALFORMED_CHUNK = "malformed_chunk"  # a few chunks, then one that is not JSON
STALL_MID_STREAM = "stall_mid_stream"  # a few chunks, then silence
CUT_SHORT = "cut_short"  # a few chunks, then the connection closes without [DONE]


class FakeOpenAI:
    """Configure its next answers through attributes; read `requests` to see what it received."""

    def __init__(self):
        self.mode = OK
        self.status = 500
        self.reply: str | None = None  # None: echo the last user message
        self.pieces: list[str] | None = None  # the stream's text pieces (default: the reply in words)
        self.chunks_before_failure = 2
        self.chunk_delay = 0.0
        self.requests: list[dict] = []
        self.on_request = None  # called with the request body on the server's thread, before answering
        self.disconnected = threading.Event()  # a client hung up while we were streaming
        self.chunks_sent = 0
        self._release = threading.Event()
        self._server: LocalHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{self._server.url}/v1"

    def start(self, port: int = 0) -> "FakeOpenAI":
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = LocalHTTPServer(Handler, port=port).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.stop()

    def wait_silently(self) -> None:
        self._release.wait(30)

    def reply_for(self, body: dict) -> str:
        if self.reply is not None:
            return self.reply
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        return f"You said: {users[-1] if users else ''}"


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    # HTTP/1.0: a streamed body simply ends when the connection closes.
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # quiet in tests
        pass

    def _json(self, status: int, payload) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if fake.on_request is not None:
            fake.on_request(body)
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"unknown path {self.path}"}})
        if fake.mode == STATUS:
            # Real providers echo part of a bad key; the client must never pass it on.
            auth = self.headers.get("Authorization", "")
            return self._json(fake.status, {"error": {"message": f"provider says no ({auth})", "type": "server_error"}})
        if fake.mode == SILENT:
            fake.wait_silently()
            return
        if fake.mode == MALFORMED:
            return self._json(200, b"<html>not a completion</html>")
        model = body.get("model", "fake")
        reply = fake.reply_for(body)
        if not body.get("stream"):
            return self._json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
                },
            )
        self._stream(fake, model, reply)

    def _event(self, data: str) -> None:
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()

    def _stream(self, fake: FakeOpenAI, model: str, reply: str) -> None:
        pieces = fake.pieces if fake.pieces is not None else [w + " " for w in reply.split(" ")[:-1]] + reply.split(" ")[-1:]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        failing = fake.mode in (ERROR_MID_STREAM, MALFORMED_CHUNK, STALL_MID_STREAM, CUT_SHORT)
        try:
            self.wfile.write(b": keep-alive\n\n")
            self._event(json.dumps({"id": "c", "model": model, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
            for index, piece in enumerate(pieces):
                if failing and index == fake.chunks_before_failure:
                    break
                if fake.chunk_delay:
                    time.sleep(fake.chunk_delay)
                self._event(json.dumps({"id": "c", "model": model, "choices": [{"index": 0, "delta": {"content": piece}}]}))
                fake.chunks_sent += 1
            if fake.mode == ERROR_MID_STREAM:
                self._event(json.dumps({"error": {"message": "The server is overloaded", "type": "server_error"}}))
                return
            if fake.mode == MALFORMED_CHUNK:
                self._event("{this is not json")
                return
            if fake.mode == STALL_MID_STREAM:
                fake.wait_silently()
                return
            if fake.mode == CUT_SHORT:
                return
            self._event(json.dumps({"id": "c", "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            # A usage-only chunk, as OpenAI sends with stream_options.include_usage.
            self._event(json.dumps({"id": "c", "model": model, "choices": [], "usage": {"total_tokens": 6}}))
            self._event("[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            fake.disconnected.set()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible echo server.")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    fake = FakeOpenAI()
    fake.chunk_delay = 0.05
    fake.start(port=args.port)
    print(f"Fake OpenAI-compatible server on {fake.url} (AI_BASE_URL={fake.url} AI_MODEL=fake); Ctrl-C stops it.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
