"""Writes of documents: upload (with plan and size limits) and delete."""

import logging
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import transaction
from django.utils.text import get_valid_filename

from audit.services import event_record
from core import entitlements
from core.actor import Actor
from core.exceptions import ApplicationError, payload_too_large
from core.parsers import StreamLimitUploadHandler
from documents.models import Document
from documents.selectors import BYTES_PER_MB, storage_used_bytes
from documents.sniffing import sniff_content_type
from organizations.models import Organization

logger = logging.getLogger(__name__)

STORAGE_ENTITLEMENT = "storage_mb"
# Multipart framing plus the form's own fields (title ≤ 255, description ≤ 5000 characters).
FORM_OVERHEAD_BYTES = 64 * 1024
FALLBACK_FILENAME = "file"
MAX_FILENAME_CHARS = 255


def filename_sanitize(name: str | None) -> str:
    """A safe display name: no directories, no traversal, only word characters, dots and dashes."""
    # Both separators: a Windows client sends C:\\Users\\x\\report.pdf.
    base = PurePosixPath((name or "").replace("\\", "/")).name
    try:
        cleaned = get_valid_filename(base)
    except SuspiciousFileOperation:  # "", "." or ".."
        return FALLBACK_FILENAME
    cleaned = cleaned.lstrip(".") or FALLBACK_FILENAME
    if len(cleaned) > MAX_FILENAME_CHARS:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and 0 < len(extension) < 16:
            cleaned = stem[: MAX_FILENAME_CHARS - len(extension) - 1] + "." + extension
        else:
            cleaned = cleaned[:MAX_FILENAME_CHARS]
    return cleaned


def _max_upload_bytes() -> int:
    return int(settings.DOCUMENT_MAX_UPLOAD_MB) * BYTES_PER_MB


def _too_large() -> ApplicationError:
    return payload_too_large(
        f"The file is larger than the {settings.DOCUMENT_MAX_UPLOAD_MB} MB upload limit.",
        file=[f"Files may be at most {settings.DOCUMENT_MAX_UPLOAD_MB} MB."],
    )


def document_request_max_bytes() -> int:
    """The largest upload request body: the per-file cap plus the form around it (the ASGI layer's cut-off)."""
    return _max_upload_bytes() + FORM_OVERHEAD_BYTES


def document_upload_limiter(*, organization) -> StreamLimitUploadHandler:
    """An upload handler refusing, while the file streams in, what `document_upload` would refuse once it is stored.

    Over the per-file cap → 413 PAYLOAD_TOO_LARGE; over what the plan's storage has left → 402
    PLAN_LIMIT_REACHED. `document_upload` checks again, under the org lock, for concurrent uploads.
    """
    cap = _max_upload_bytes()
    limit_mb = entitlements.limit_of(organization, STORAGE_ENTITLEMENT)
    used = storage_used_bytes(organization=organization) if limit_mb is not None else 0
    left = None if limit_mb is None else max(0, limit_mb * BYTES_PER_MB - used)

    def refuse(received: int):
        if received > cap:
            raise _too_large()
        entitlements.require(organization, STORAGE_ENTITLEMENT, used=used / BYTES_PER_MB, adding=received / BYTES_PER_MB)
        raise _too_large()  # not reached: over what is left is over the plan

    return StreamLimitUploadHandler(max_bytes=cap if left is None else min(cap, left), refuse=refuse, overhead_bytes=FORM_OVERHEAD_BYTES)


def document_upload(*, organization, uploaded_file, title: str = "", description: str = "", actor: Actor) -> Document:
    """Store an uploaded file for the organization; 413 over the per-file cap, 402 over the plan's storage."""
    size = uploaded_file.size
    if size > _max_upload_bytes():
        raise _too_large()
    filename = filename_sanitize(uploaded_file.name)
    content_type = sniff_content_type(uploaded_file)
    with transaction.atomic():
        # Lock the org row so two concurrent uploads cannot both squeeze under the limit.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        used = storage_used_bytes(organization=organization)
        entitlements.require(organization, STORAGE_ENTITLEMENT, used=used / BYTES_PER_MB, adding=size / BYTES_PER_MB)
        document = Document(
            organization=organization,
            title=(title or "").strip() or filename,
            description=description or "",
            filename=filename,
            content_type=content_type,
            size=size,
            uploaded_by=actor.user,  # None when an API key uploads
        )
        # The storage name comes from upload_to (org id + uuid), never from the client.
        document.file.save(filename, uploaded_file, save=False)
        stored_name = document.file.name
        try:
            document.save()
            event_record(
                action="document.uploaded",
                actor=actor,
                organization_id=organization.id,
                target=document,
                metadata={"title": document.title, "filename": filename, "content_type": content_type, "size": size},
            )
        except BaseException:
            document.file.storage.delete(stored_name)
            raise
    return document


def _delete_stored_file(storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:  # the row is gone either way; an orphan file is only wasted space
        logger.exception("could not delete stored document file %s", name)


def document_delete(*, document: Document, actor: Actor) -> None:
    """Delete a document and, once the deletion is committed, its stored file."""
    storage, name = document.file.storage, document.file.name
    with transaction.atomic():
        event_record(
            action="document.deleted",
            actor=actor,
            organization_id=document.organization_id,
            target=document,
            metadata={"title": document.title, "filename": document.filename, "size": document.size},
        )
        document.delete()
        # After commit: a rolled-back delete must not lose the file.
        transaction.on_commit(lambda: _delete_stored_file(storage, name))
