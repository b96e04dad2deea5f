"""Uploads are cut off at the limit while they stream in, never buffered whole first (API.md v1.1 invariant 7)."""

import io

import pytest
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from core import entitlements
from core.http import request_body_limit
from core.parsers import StreamLimitUploadHandler
from documents.models import Document
from documents.selectors import BYTES_PER_MB
from documents.services import FORM_OVERHEAD_BYTES

pytestmark = pytest.mark.django_db


def url(organization) -> str:
    return f"/api/v1/orgs/{organization.id}/documents"


@pytest.fixture
def temp_files_opened(monkeypatch):
    """Count the temporary files Django's upload handling opens (a file buffered to disk)."""
    opened = []
    original = TemporaryFileUploadHandler.new_file

    def new_file(self, *args, **kwargs):
        opened.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", new_file)
    return opened


def post_file(client, organization, size: int):
    body = encode_multipart(BOUNDARY, {"file": _named(b"a" * size, "big.bin"), "title": "big"})
    return client.generic("POST", url(organization), body, content_type=MULTIPART_CONTENT)


def _named(content: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def test_oversized_upload_is_413_before_a_byte_of_it_is_read(team, settings, media_root, temp_files_opened):
    # given: a 1 MB cap and a 6 MB file, which Django would otherwise spool to a temp file first
    organization, _, clients = team
    settings.DOCUMENT_MAX_UPLOAD_MB = 1

    response = post_file(clients["member"], organization, 6 * BYTES_PER_MB)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert "file" in error["details"]
    # The declared length already could not fit: the body was never read, nothing was spooled.
    assert response.wsgi_request._stream._pos == 0
    assert temp_files_opened == []
    assert Document.objects.count() == 0
    assert [p for p in media_root.rglob("*") if p.is_file()] == []


def test_upload_over_what_the_plan_has_left_is_402_before_it_is_read(team, monkeypatch, media_root, temp_files_opened):
    organization, _, clients = team
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: {"storage_mb": 1}.get(name))

    response = post_file(clients["member"], organization, 3 * BYTES_PER_MB)

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "PLAN_LIMIT_REACHED"
    assert response.wsgi_request._stream._pos == 0
    assert temp_files_opened == []


def test_upload_within_the_limits_is_still_stored(team, settings):
    organization, _, clients = team
    settings.DOCUMENT_MAX_UPLOAD_MB = 1

    response = post_file(clients["member"], organization, BYTES_PER_MB)

    assert response.status_code == 201, response.content
    assert Document.objects.get().size == BYTES_PER_MB


class CountingStream(io.BytesIO):
    """A request body that records how many bytes the parser pulled from it."""

    pulled = 0

    def read(self, size=-1):
        data = super().read(size)
        self.pulled += len(data)
        return data


class Refused(Exception):
    pass


def refuse(received: int):
    raise Refused(received)


def test_the_handler_stops_the_stream_at_the_limit_and_the_temp_file_never_sees_more():
    # given: a body whose declared length passes the quick check (a generous overhead), so only
    # the byte count while streaming can stop it — as for a file just over the cap
    limit = BYTES_PER_MB
    body = encode_multipart(BOUNDARY, {"file": _named(b"a" * (8 * limit), "big.bin")})
    stream = CountingStream(body)
    guard = StreamLimitUploadHandler(max_bytes=limit, refuse=refuse, overhead_bytes=len(body))
    spool = TemporaryFileUploadHandler()
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}

    # when
    with pytest.raises(Refused):
        MultiPartParser(meta, stream, [guard, spool]).parse()

    # then: one chunk past the limit at most was read, of an 8 MB body; the temp file got only what passed
    chunk = 64 * 1024
    assert limit < guard.received <= limit + chunk
    assert stream.pulled <= limit + 2 * chunk
    assert stream.pulled < len(body) // 4


def test_the_upload_route_allows_the_cap_and_every_other_route_djangos_limit(team, settings):
    organization, _, _ = team
    settings.DOCUMENT_MAX_UPLOAD_MB = 3

    assert request_body_limit(url(organization)) == 3 * BYTES_PER_MB + FORM_OVERHEAD_BYTES
    assert request_body_limit(url(organization) + "/") == 3 * BYTES_PER_MB + FORM_OVERHEAD_BYTES
    assert request_body_limit("/api/v1/auth/login") == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert request_body_limit("/no/such/route") == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
