"""ASGI plumbing in front of Django: request bodies are cut off at their limit while they stream in."""

import json
import logging
import uuid

from core.errors import ErrorCode
from core.http import request_body_limit
from core.middleware import _SAFE_REQUEST_ID

logger = logging.getLogger("core.errors")
_UNRESOLVED = object()


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def call_with_body_limit(app, scope, receive, send) -> None:
    """Call the ASGI `app`, answering 413 PAYLOAD_TOO_LARGE (the envelope) once the HTTP body passes its route's limit.

    Django's ASGI handler reads the whole body into a temporary file before any view runs, so
    the limit (core.http.request_body_limit: DATA_UPLOAD_MAX_MEMORY_SIZE, or a view's larger
    allowance) is enforced here: a declared Content-Length over it is refused unread, and a body
    that grows past it (chunked, or lying) is cut off at the chunk that crossed it. The app is
    then told the client left, and answers nothing.
    """
    if scope["type"] != "http":
        return await app(scope, receive, send)
    path = scope.get("path") or "/"
    try:
        declared = int(_header(scope, b"content-length") or 0)
    except ValueError:
        declared = 0
    # Resolved only for requests with a body (most have none); resolving is pure CPU, no I/O.
    limit = request_body_limit(path) if declared else _UNRESOLVED
    if isinstance(limit, int) and declared > limit:
        return await _refuse(scope, send, limit)

    received = 0
    refused = False

    async def limited_receive():
        nonlocal received, refused, limit
        if refused:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request" and message.get("body"):
            received += len(message["body"])
            if limit is _UNRESOLVED:
                limit = request_body_limit(path)
            if limit is not None and received > limit:
                refused = True
                await _refuse(scope, send, limit)
                # Django takes this as the client leaving: it stops reading and answers nothing.
                return {"type": "http.disconnect"}
        return message

    async def guarded_send(message):
        if not refused:
            await send(message)

    await app(scope, limited_receive, guarded_send)


class RequestBodyLimitMiddleware:
    """ASGI middleware form of `call_with_body_limit`, for any ASGI app."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await call_with_body_limit(self.app, scope, receive, send)


async def _refuse(scope, send, limit: int) -> None:
    incoming = _header(scope, b"x-request-id") or ""
    request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    logger.warning("request body over %s bytes refused: %s", limit, scope.get("path"))
    body = json.dumps(
        {
            "error": {
                "code": ErrorCode.PAYLOAD_TOO_LARGE.value,
                "message": "The request body is too large.",
                "details": {"limit": limit},
                "request_id": request_id,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                # The rest of the body is never read: the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
