"""Fetching an IdP's published documents (OIDC discovery, SAML metadata) that an org admin points us at.

The URL comes from a tenant, so it is a server-side request forgery vector: only https, only to
public addresses, no redirects, a size cap and a timeout. `SSO_ALLOW_LOCAL_IDP` lifts the first
two for development and the test suite (an IdP on loopback over http).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings

from core.exceptions import validation_error

MAX_DOCUMENT_BYTES = 1_000_000
TIMEOUT_SECONDS = 10


def url_check(url: str, *, field: str) -> str:
    """Return `url` when it may be fetched; 400 naming `field` otherwise."""
    parts = urlsplit(url or "")
    local_allowed = settings.SSO_ALLOW_LOCAL_IDP
    if parts.scheme != "https" and not (local_allowed and parts.scheme == "http"):
        raise validation_error(field, "Give an https:// URL.")
    if not parts.hostname or parts.username or parts.password:
        raise validation_error(field, "Give a URL with a host name and no credentials.")
    if not local_allowed:
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            raise validation_error(field, f"The host {parts.hostname} cannot be resolved.") from None
        for info in infos:
            if not ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_global:
                raise validation_error(field, "The URL must point to a public address.")
    return url


def document_fetch(url: str, *, field: str) -> bytes:
    """GET a public IdP document; any failure is a 400 naming `field`, never a 500."""
    url_check(url, field=field)
    try:
        with requests.get(
            url, timeout=TIMEOUT_SECONDS, allow_redirects=False, stream=True, headers={"Accept": "application/json, application/xml"}
        ) as response:
            if response.status_code != 200:
                raise validation_error(field, f"{url} answered HTTP {response.status_code}.")
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise validation_error(field, f"{url} cannot be fetched ({type(exc).__name__}).") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise validation_error(field, "The document is too large.")
    return body
