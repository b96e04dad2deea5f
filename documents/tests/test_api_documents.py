"""Documents API: upload, list, get, download, delete; limits, sniffing, roles and tenancy."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import AuditEvent
from conftest import client_for
from core import entitlements, hooks
from documents.models import Document
from documents.services import filename_sanitize
from documents.sniffing import DOCX, XLSX, sniff_content_type
from documents.tests.conftest import PNG
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def url(organization, *parts) -> str:
    return "/".join([f"/api/v1/orgs/{organization.id}/documents", *map(str, parts)])


def upload(client, organization, content=b"hello world\n", name="notes.txt", content_type="text/plain", **fields):
    body = {"file": SimpleUploadedFile(name, content, content_type=content_type), **fields}
    return client.post(url(organization), body, format="multipart")


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_upload_list_get_download_delete(team, media_root, django_capture_on_commit_callbacks):
    organization, members, clients = team
    client = clients["member"]

    # when: upload
    response = upload(client, organization, title="Q3 notes", description="draft")

    # then: 201 with the stored metadata, the bytes on disk under the org's folder
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["title"] == "Q3 notes"
    assert created["description"] == "draft"
    assert created["filename"] == "notes.txt"
    assert created["content_type"] == "text/plain"
    assert created["size"] == 12
    assert created["uploaded_by"] == str(members["member"].user_id)
    document = Document.objects.get(id=created["id"])
    assert document.file.name.startswith(f"documents/{organization.id}/")
    assert "notes" not in document.file.name
    stored = media_root / document.file.name
    assert stored.read_bytes() == b"hello world\n"

    # list (a viewer reads too)
    listing = clients["viewer"].get(url(organization))
    assert listing.status_code == 200
    assert listing.json()["total"] == 1
    assert listing.json()["data"][0]["id"] == created["id"]
    assert set(listing.json()) == {"data", "total", "page", "limit", "total_pages"}

    # get
    detail = clients["viewer"].get(url(organization, created["id"]))
    assert detail.status_code == 200
    assert detail.json() == created

    # download
    download = clients["viewer"].get(url(organization, created["id"], "download"))
    assert download.status_code == 200
    assert body_of(download) == b"hello world\n"
    assert download["Content-Type"] == "text/plain"
    assert download["Content-Disposition"] == "attachment; filename*=UTF-8''notes.txt"
    assert download["X-Content-Type-Options"] == "nosniff"

    # delete: the row and, after commit, the file are gone
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.delete(url(organization, created["id"]))
    assert deleted.status_code == 204
    assert not Document.objects.filter(id=created["id"]).exists()
    assert not stored.exists()
    assert client.get(url(organization, created["id"])).status_code == 404


def test_content_type_is_sniffed_not_trusted(team):
    organization, _, clients = team

    response = upload(clients["member"], organization, content=PNG, name="x.pdf", content_type="text/plain")

    assert response.status_code == 201
    assert response.json()["content_type"] == "image/png"
    download = clients["member"].get(url(organization, response.json()["id"], "download"))
    assert download["Content-Type"] == "image/png"


def test_html_is_served_as_plain_text(team):
    organization, _, clients = team

    response = upload(clients["member"], organization, content=b"<script>alert(1)</script>", name="x.html", content_type="text/html")

    assert response.json()["content_type"] == "text/plain"


def _zip(member: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(member, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7\n...", "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (_zip("word/document.xml"), DOCX),
        (_zip("xl/workbook.xml"), XLSX),
        (_zip("other.txt"), "application/zip"),
        ("naïve café\n".encode(), "text/plain"),
        (b"\x00\x01\x02\xfe", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_sniffer(content, expected):
    handle = io.BytesIO(content)
    handle.seek(1 if content else 0)

    assert sniff_content_type(handle) == expected
    assert handle.tell() == (1 if content else 0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/abs/path/report final.pdf", "report_final.pdf"),
        ("..", "file"),
        ("", "file"),
        (".htaccess", "htaccess"),
    ],
)
def test_filename_sanitize(name, expected):
    assert filename_sanitize(name) == expected


def test_traversal_name_is_neutralised(team, media_root):
    organization, _, clients = team

    response = upload(clients["member"], organization, name="../../etc/passwd")

    assert response.status_code == 201
    assert response.json()["filename"] == "passwd"
    document = Document.objects.get(id=response.json()["id"])
    assert document.file.name.startswith(f"documents/{organization.id}/")
    assert ".." not in document.file.name and "passwd" not in document.file.name
    assert (media_root / document.file.name).resolve().is_relative_to(media_root.resolve())
    download = clients["member"].get(url(organization, document.id, "download"))
    assert download["Content-Disposition"] == "attachment; filename*=UTF-8''passwd"


def test_non_ascii_filename_is_percent_encoded(team):
    organization, _, clients = team

    response = upload(clients["member"], organization, name="résumé.txt")

    download = clients["member"].get(url(organization, response.json()["id"], "download"))
    assert download["Content-Disposition"] == "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"


def test_file_over_the_per_file_cap_is_413(team, settings, media_root):
    organization, _, clients = team
    settings.DOCUMENT_MAX_UPLOAD_MB = 1

    response = upload(clients["member"], organization, content=b"a" * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "file" in response.json()["error"]["details"]
    assert Document.objects.count() == 0
    assert [p for p in media_root.rglob("*") if p.is_file()] == []


def test_upload_over_the_plan_storage_is_402(team, monkeypatch, media_root):
    organization, _, clients = team
    limits = {"storage_mb": 1}
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: limits.get(name))
    half_mb = b"a" * (512 * 1024)
    assert upload(clients["member"], organization, content=half_mb).status_code == 201
    assert upload(clients["member"], organization, content=half_mb).status_code == 201

    # when: one more byte than the plan's 1 MB
    response = upload(clients["member"], organization, content=b"b")

    # then
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "PLAN_LIMIT_REACHED"
    assert error["details"]["entitlement"] == "storage_mb"
    assert Document.objects.filter(organization=organization).count() == 2
    assert len([p for p in media_root.rglob("*") if p.is_file()]) == 2


def test_usage_and_stats_hooks_report_storage(team):
    organization, _, clients = team
    upload(clients["member"], organization, content=b"a" * (1024 * 1024 + 10))

    usage = {}
    for part in hooks.usage_counts(organization=organization):
        usage.update(part or {})
    stats = {}
    for part in hooks.organization_stats(organization=organization):
        stats.update(part or {})

    assert usage["storage_mb"] == 2
    assert stats["storage_used_mb"] == 2


def test_viewer_can_read_but_not_write(team):
    organization, _, clients = team
    created = upload(clients["member"], organization).json()

    assert clients["viewer"].get(url(organization)).status_code == 200
    assert clients["viewer"].get(url(organization, created["id"], "download")).status_code == 200
    refused_upload = upload(clients["viewer"], organization)
    refused_delete = clients["viewer"].delete(url(organization, created["id"]))

    for response in (refused_upload, refused_delete):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert Document.objects.filter(organization=organization).count() == 1


def test_another_orgs_document_is_404_and_untouched(team, media_root):
    organization, _, clients = team
    other = OrganizationFactory()
    other_owner = MembershipFactory(organization=other, role="owner")
    foreign = upload(client_for(other_owner.user, other), other, content=b"secret").json()
    stored = media_root / Document.objects.get(id=foreign["id"]).file.name
    client = clients["owner"]

    # through my own org's path with the other org's document id
    responses = [
        client.get(url(organization, foreign["id"])),
        client.get(url(organization, foreign["id"], "download")),
        client.delete(url(organization, foreign["id"])),
        # and through the other org's path
        client.get(url(other, foreign["id"])),
        client.get(url(other, foreign["id"], "download")),
        client.delete(url(other, foreign["id"])),
        client.get(url(other)),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert b"secret" not in b"".join(r.content for r in responses)
    assert Document.objects.filter(id=foreign["id"]).exists()
    assert stored.read_bytes() == b"secret"
    assert client.get(url(organization)).json()["total"] == 0


def test_upload_and_delete_are_audited(team, django_capture_on_commit_callbacks):
    organization, members, clients = team
    created = upload(clients["member"], organization, title="Audited").json()
    with django_capture_on_commit_callbacks(execute=True):
        clients["member"].delete(url(organization, created["id"]))

    events = {e.action: e for e in AuditEvent.objects.filter(organization_id=organization.id, action__startswith="document.")}

    assert set(events) == {"document.uploaded", "document.deleted"}
    for event in events.values():
        assert event.target_type == "document"
        assert event.target_id == created["id"]
        assert str(event.actor_id) == str(members["member"].user_id)
    assert events["document.uploaded"].metadata["title"] == "Audited"


def test_list_query_count_is_constant(team):
    organization, _, clients = team
    client = clients["viewer"]
    upload(clients["member"], organization)
    client.get(url(organization))  # warm caches
    with CaptureQueriesContext(connection) as one:
        assert client.get(url(organization)).status_code == 200
    for index in range(5):
        upload(clients["member"], organization, name=f"f{index}.txt")
    with CaptureQueriesContext(connection) as six:
        response = client.get(url(organization))

    assert response.json()["total"] == 6
    assert len(six.captured_queries) == len(one.captured_queries)


def test_missing_file_is_400_envelope(team):
    organization, _, clients = team

    response = clients["member"].post(url(organization), {"title": "no file"}, format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "file" in error["details"]
    assert Document.objects.count() == 0


def test_upload_with_an_api_key_has_no_uploader(team):
    organization, _, clients = team
    created = clients["owner"].post(f"/api/v1/orgs/{organization.id}/api-keys", {"name": "ci", "scopes": ["documents:write", "documents:read"]}, format="json")
    assert created.status_code == 201, created.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created.json()['secret']}")

    response = upload(client, organization)

    assert response.status_code == 201, response.content
    assert response.json()["uploaded_by"] is None
