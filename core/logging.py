"""Logging filters: the current request id on every record; credentials in URLs redacted."""

import logging
import re

from core.middleware import current_request_id


def _request_id_of(record: logging.LogRecord) -> str | None:
    # django.request logs a 4xx/5xx after the middleware has returned, but passes the request.
    request = getattr(record, "request", None)
    request = getattr(request, "_request", request)
    return getattr(request, "request_id", None)


class RequestIDFilter(logging.Filter):
    """Add `request_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or _request_id_of(record) or "-"
        return True


# Query parameters that carry a credential: the WebSocket `?token=` fallback, OAuth callbacks'
# `code`, any `access_token`/`refresh_token`/`id_token`/`api_key` a client puts in a URL.
_SECRET_QUERY_PARAMETER = re.compile(r"(?i)([?&](?:token|access_token|refresh_token|id_token|api_key|code)=)[^&\s\"']+")
# Path segments that are credentials: an invitation code (`/invites/<code>[/accept|/decline]`)
# joins the org as whoever presents it first.
_SECRET_PATH_SEGMENT = re.compile(r"(/api/v1/invites/)[A-Za-z0-9_-]{16,}")
REDACTED = "[redacted]"
# Loggers that write request lines (query strings included); most do not propagate to the root.
REQUEST_LINE_LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access", "gunicorn.error", "django.server")


def secrets_redact(text: str) -> str:
    """Replace credential-carrying query parameter values and path segments in `text`."""
    text = _SECRET_PATH_SEGMENT.sub(rf"\g<1>{REDACTED}", text)
    return _SECRET_QUERY_PARAMETER.sub(rf"\g<1>{REDACTED}", text)


class SecretRedactionFilter(logging.Filter):
    """Blank credentials carried in URLs (`/ws?token=...`) out of a log record before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format itself is the handler's problem, not ours
            return True
        redacted = secrets_redact(message)
        if redacted != message:
            # Tokens live in the record's args (the access log's request line): freeze the redacted text.
            record.msg, record.args = redacted, None
        return True


def secret_redaction_install() -> None:
    """Put the redaction filter on every logger that writes request lines (idempotent)."""
    for name in REQUEST_LINE_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, SecretRedactionFilter) for existing in target.filters):
            target.addFilter(SecretRedactionFilter())
