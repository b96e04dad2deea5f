"""Logging: the request id on every record, JSON lines when asked for."""

import io
import json
import logging

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.module_loading import import_string

from core.logging import RequestIDFilter
from core.middleware import RequestIDMiddleware


@pytest.fixture
def captured():
    """Capture records of every logger through a handler that carries the RequestIDFilter."""
    records: list[logging.LogRecord] = []

    class Collector(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collector(level=logging.DEBUG)
    handler.addFilter(RequestIDFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)


@pytest.mark.urls("core.tests.urls")
def test_records_logged_during_a_request_carry_its_id(api_client, db, captured):
    api_client.get("/api/v1/test/log", HTTP_X_REQUEST_ID="log-me-1")

    [record] = [r for r in captured if r.name == "core.tests.views"]
    assert record.request_id == "log-me-1"


def test_django_request_errors_carry_the_id_too(api_client, db, captured):
    # django.request logs 4xx/5xx after the middleware has returned; the id comes with the request.
    logging.getLogger("django.request").setLevel(logging.WARNING)
    try:
        api_client.get("/api/v1/nope", HTTP_X_REQUEST_ID="log-me-2")
    finally:
        logging.getLogger("django.request").setLevel(logging.ERROR)

    [record] = [r for r in captured if r.name == "django.request"]
    assert record.request_id == "log-me-2"


def test_records_outside_a_request_get_a_dash(captured):
    logging.getLogger("core.tests").warning("no request here")

    assert captured[-1].request_id == "-"


def _configured_json_formatter() -> logging.Formatter:
    """Build the "json" formatter exactly as settings.LOGGING declares it."""
    spec = dict(settings.LOGGING["formatters"]["json"])
    factory = import_string(spec.pop("()"))
    return factory(**spec)


@pytest.fixture
def json_stream():
    """A logger whose only handler writes through the configured JSON formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIDFilter())
    handler.setFormatter(_configured_json_formatter())
    logger = logging.getLogger("core.tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_json_formatter_writes_one_object_per_line(json_stream):
    logger, stream = json_stream

    logger.warning("first")
    logger.warning("second\nwith a newline")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "first" and second["message"] == "second\nwith a newline"
    assert first["request_id"] == "-"
    assert first["level"] == "WARNING" and first["logger"] == "core.tests.json"
    assert "time" in first


def test_json_lines_carry_the_request_id_during_a_request(json_stream):
    logger, stream = json_stream

    def view(request):
        logger.warning("serving")
        return HttpResponse()

    RequestIDMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="json-req-1"))

    assert json.loads(stream.getvalue())["request_id"] == "json-req-1"
