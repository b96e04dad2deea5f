"""Identifiers as they arrive from clients, tokens and rows."""

import uuid


def parse_uuid(value, *, strict: bool = False) -> uuid.UUID | None:
    """Return the UUID `value` names (a UUID or its text); None for None or "".

    A malformed value gives None, or raises ValueError when `strict` (for callers that must not
    quietly take a bad id for "no id", such as the audit chain).
    """
    if isinstance(value, uuid.UUID):
        return value
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        if strict:
            raise
        return None
