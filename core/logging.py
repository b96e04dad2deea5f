"""Logging filter that stamps every record with the current request id."""
import logging

from core.middleware import current_request_id


class RequestIDFilter(logging.Filter):
    """Add `request_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True
