"""Logging filter that stamps every record with the current request id."""
import logging

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
