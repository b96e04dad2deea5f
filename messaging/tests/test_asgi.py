"""config/asgi.py: HTTP and WebSocket routing, and sync streaming responses sent as produced."""

import asyncio

from asgiref.sync import async_to_sync
from django.http import FileResponse, StreamingHttpResponse

from config.asgi import StreamingASGIHandler, application
from core.testing import asgi_http_request


def _collect(response):
    sent = []

    async def send(message):
        sent.append(message)

    async def scenario():
        await StreamingASGIHandler().send_response(response, send)

    async_to_sync(scenario)()
    return sent


def test_a_sync_stream_is_sent_part_by_part_not_read_to_its_end_first():
    produced = []

    def parts():
        for n in range(3):
            produced.append(n)
            yield f"data: {n}\n\n"

    seen_when_sent = []
    response = StreamingHttpResponse(parts(), content_type="text/event-stream")

    async def send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            # When a part goes out, the generator has produced it and nothing after it.
            seen_when_sent.append((message["body"], len(produced)))

    async_to_sync(StreamingASGIHandler().send_response)(response, send)

    assert seen_when_sent == [(b"data: 0\n\n", 1), (b"data: 1\n\n", 2), (b"data: 2\n\n", 3)]


def test_file_responses_still_stream_whole(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 200_000)

    sent = _collect(FileResponse(path.open("rb")))

    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"x" * 200_000
    assert sent[-1] == {"type": "http.response.body"}


def test_async_streams_are_left_to_django():
    async def parts():
        for n in range(2):
            await asyncio.sleep(0)
            yield f"{n}"

    sent = _collect(StreamingHttpResponse(parts()))

    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"01"


def test_the_application_routes_http_and_websockets():
    assert set(application.application_mapping) == {"http", "websocket"}
    assert isinstance(application.application_mapping["http"], StreamingASGIHandler)


def _get(path: str) -> tuple[int, bytes]:
    """One GET through the ASGI application, as uvicorn would send it."""
    return async_to_sync(asgi_http_request)(application, method="GET", path=path)


def test_middleware_and_view_run_in_one_hop_to_the_request_thread(db, monkeypatch):
    from django.core.handlers.base import BaseHandler

    handler = application.application_mapping["http"]
    # The chain is the sync one: no middleware hook or view gets a hop of its own.
    assert not asyncio.iscoroutinefunction(handler._middleware_chain)
    assert handler._view_middleware and not any(asyncio.iscoroutinefunction(hook) for hook in handler._view_middleware)
    entered = []
    real = BaseHandler.get_response
    monkeypatch.setattr(BaseHandler, "get_response", lambda self, request: entered.append(request.path) or real(self, request))

    status, body = _get("/health/live")

    # The sync entry point (what WSGI calls) served the whole request, once.
    assert (status, entered) == (200, ["/health/live"])
    assert body
