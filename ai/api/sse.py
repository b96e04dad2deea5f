"""Server-Sent Events framing of a streamed reply: `data: {"content": ...}` per piece, then `data: [DONE]`.

A failure mid-stream sends one `event: error` whose data is the error envelope, then ends
(no `[DONE]`). close() is called by the server however the response ends, and closes the reply
stream, which stores what came so far.
"""

import json
import logging

from asgiref.sync import sync_to_async

from core.errors import ErrorCode
from core.exceptions import ApplicationError, envelope

logger = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
DONE = b"data: [DONE]\n\n"


def event(data: dict, *, name: str | None = None) -> bytes:
    """One SSE event (JSON data on a single line)."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class EventStreamBody:
    """The response body (a sync iterable with close()) for WSGI servers."""

    def __init__(self, stream, *, request_id: str | None):
        self._stream = stream
        self._request_id = request_id
        self._events = None

    def __iter__(self):
        if self._events is None:
            self._events = self._generate()
        return self._events

    def _error(self, *, code: str, message: str, details: dict | None = None) -> bytes:
        body = envelope(code=code, message=message, details=details)
        # Streaming runs after the view returned: the request id is no longer in context.
        body["error"]["request_id"] = self._request_id
        return event(body, name="error")

    def _generate(self):
        try:
            for piece in self._stream:
                yield event({"content": piece})
        except ApplicationError as exc:
            yield self._error(code=exc.code, message=exc.message, details=exc.details)
            return
        except Exception:
            logger.exception("AI reply stream failed")
            yield self._error(code=ErrorCode.INTERNAL_ERROR, message="An internal error occurred.")
            return
        yield DONE

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
        try:
            self._stream.close()
        except Exception:  # the server swallows closer errors: say what went wrong here
            logger.exception("could not finish the AI reply stream")


class AsyncEventStreamBody:
    """The same body as an async iterator, so ASGI servers stream it instead of buffering it whole."""

    def __init__(self, body: EventStreamBody):
        self._body = body

    def __aiter__(self):
        return self._generate()

    async def _generate(self):
        events = iter(self._body)
        # thread_sensitive: the stream touches the database on the request's own thread.
        step = sync_to_async(next, thread_sensitive=True)
        while (chunk := await step(events, None)) is not None:
            yield chunk

    def close(self) -> None:
        self._body.close()
