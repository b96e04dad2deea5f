"""Content type from a file's first bytes: the client's claimed type is never trusted."""

import io
import zipfile

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 8192

_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


def _zip_kind(fileobj) -> str:
    # An Office Open XML file is a zip whose member names say which kind it is.
    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "application/zip"
    if any(name.startswith("word/") for name in names):
        return DOCX
    if any(name.startswith("xl/") for name in names):
        return XLSX
    if any(name.startswith("ppt/") for name in names):
        return PPTX
    return "application/zip"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # The sample may end inside a multi-byte character.
        if error.start < len(head) - 3:
            return False
    return True


def sniff_content_type(fileobj) -> str:
    """Return the media type the bytes of `fileobj` show (its position is restored)."""
    position = fileobj.tell()
    try:
        fileobj.seek(0)
        head = fileobj.read(SNIFF_BYTES)
        for magic, media_type in _MAGIC:
            if head.startswith(magic):
                return media_type
        if head.startswith(_ZIP_MAGIC):
            fileobj.seek(0)
            source = fileobj if hasattr(fileobj, "seekable") and fileobj.seekable() else io.BytesIO(fileobj.read())
            return _zip_kind(source)
        if head and _is_text(head):
            return "text/plain"
        return OCTET_STREAM
    finally:
        fileobj.seek(position)
