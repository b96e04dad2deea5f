"""Review of the issue-13 fix, written as attacks: each test fails while the hole is open."""

import logging

from core.logging import SecretRedactionFilter

INVITE_CODE = "Zq3v6fJx0mB1yq1H0w7cQ0y8dYt0ZqvYkq9rZ8l5u1A"


def _access_line(path: str) -> logging.LogRecord:
    # What uvicorn.access writes: client, method, full path (query included), HTTP version, status.
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', ("203.0.113.7:5123", "GET", path, "1.1", 200), None)


def test_an_invitation_code_in_the_url_path_is_redacted_from_access_logs():
    """Invitation codes are credentials (an anonymous accept with one joins the org as the invited role),
    and the front end opens `GET /api/v1/invites/<code>` before anyone accepts. The redaction filter only
    blanks query parameters, so the code lands in every access log, readable by whoever reads the logs
    (log shipper, support), who then accepts the pending invite first."""
    record = _access_line(f"/api/v1/invites/{INVITE_CODE}")

    SecretRedactionFilter().filter(record)

    assert INVITE_CODE not in record.getMessage(), record.getMessage()
