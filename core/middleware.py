"""Request-scoped plumbing: the request id, rate-limit headers, database-outage answers."""

import logging
import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# Echo a caller's id only when it is a sane token; anything else is replaced.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def current_request_id() -> str | None:
    """Return the id of the request being served on this thread/task, if any."""
    return _request_id.get()


class RequestIDMiddleware:
    """Give every request an id (echoing X-Request-ID when valid) and put it on the response and in logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        # fullmatch: `$` alone would accept a trailing newline, which cannot go back in a header.
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RateLimitHeadersMiddleware:
    """Copy the throttle state recorded on the request into X-RateLimit-* response headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        state = getattr(request, "rate_limit", None)
        if state:
            response["X-RateLimit-Limit"] = str(state["limit"])
            response["X-RateLimit-Remaining"] = str(max(state["remaining"], 0))
            response["X-RateLimit-Reset"] = str(state["reset"])
        return response


class OptionalTrailingSlashMiddleware:
    """Serve every /api/ and /internal/ path with or without a trailing slash (routes are declared without)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        # Only path_info changes: request.path stays as sent (the internal API signs it).
        if path.startswith(("/api/", "/internal/")) and path.endswith("/") and path.count("/") > 2:
            request.path_info = path.rstrip("/")
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """Answer 503 in the envelope when the database is down before DRF runs (the request transaction)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        # Imported here: core.exceptions imports this module.
        from core.exceptions import database_outage_log, database_unavailable_response, is_database_outage

        if not is_database_outage(exception):
            return None
        database_outage_log(exception)
        return database_unavailable_response()


class RequestBodyGuardMiddleware:
    """Refuse bad bodies at the door, in the envelope, whatever view or parser would read them.

    - A body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (multipart aside: its files are limited while they
      stream, see core.parsers.StreamLimitUploadHandler) → 413 PAYLOAD_TOO_LARGE, unread.
    - JSON nested deeper than core.parsers.MAX_JSON_DEPTH → 400 VALIDATION_ERROR, whatever parser
      a view names (json's recursion would otherwise end in a 500).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self._refusal(request) or self.get_response(request)

    def _refusal(self, request):
        # Imported here: core.exceptions imports this module.
        from django.conf import settings
        from django.core.exceptions import RequestDataTooBig

        from core.errors import ErrorCode
        from core.parsers import TOO_DEEP_MESSAGE, json_too_deep

        content_type = (request.content_type or "").lower()
        if content_type.startswith("multipart/"):
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return _refused(413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.", limit=limit)
        if not length or not (content_type == "application/json" or content_type.endswith("+json")):
            return None
        try:
            raw = request.body  # read once here; DRF and the views reuse it
        except RequestDataTooBig:
            return _refused(413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.", limit=limit)
        if json_too_deep(raw.decode(_text_charset(request.encoding or settings.DEFAULT_CHARSET), errors="replace")):
            return _refused(400, ErrorCode.VALIDATION_ERROR, TOO_DEEP_MESSAGE)
        return None


def _text_charset(name: str) -> str:
    # A bytes-to-bytes codec (bz2_codec...) would inflate a small body; the parser refuses those anyway.
    try:
        "".encode(name)
    except (LookupError, UnicodeError):
        return "latin-1"
    return name


def _refused(status: int, code: str, message: str, **details):
    """An envelope response for a body refused before any view ran (logged as a warning, not an error)."""
    from django.http import JsonResponse

    from core.exceptions import envelope

    logging.getLogger("core.errors").warning("request body refused: %s", code)
    return JsonResponse(envelope(code=code, message=message, details=details), status=status)
