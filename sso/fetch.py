"""Every server-side request we make to an IdP: discovery, SAML metadata, token, userinfo, JWKS.

Those URLs come from a tenant (the issuer or metadata URL an org admin typed, and the endpoints the
IdP's own documents name), so each request is a server-side request forgery vector. The guard:
- https only, a host name and no credentials in the URL;
- the host is resolved once per connection, every address must be public, and the socket connects
  to the address that was checked (DNS rebinding between a check and the connect gets nowhere);
  the Host header, TLS SNI and certificate verification still use the host name;
- no redirect is followed (a 3xx is a refusal), no proxy from the environment;
- a response size cap and short timeouts.
`SSO_ALLOW_LOCAL_IDP` lifts the https and public-address rules for development and the test suite
(the IdP peers run on loopback over http).
"""

import contextlib
import contextvars
import ipaddress
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from core.exceptions import validation_error

MAX_DOCUMENT_BYTES = 1_000_000
TIMEOUT_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 5
_CHUNK_BYTES = 64 * 1024

_guard_on: contextvars.ContextVar[bool] = contextvars.ContextVar("sso_idp_guard", default=False)


class IdPRequestRefused(requests.exceptions.ConnectionError):
    """The guard refused a request to an IdP (a RequestException: allauth ends the sign-in with an error)."""


class _AddressRefused(Exception):
    # Raised inside urllib3, which would wrap an OSError (RequestException is one) into a retry error.
    pass


def _local_allowed() -> bool:
    return bool(settings.SSO_ALLOW_LOCAL_IDP)


def url_refusal(url: str) -> str | None:
    """Why `url` may not be requested (scheme, host, credentials), or None."""
    try:
        parts = urlsplit(url or "")
        hostname, _ = parts.hostname, parts.port
    except ValueError:  # a bad port, an unbalanced IPv6 bracket
        return "Give a valid URL."
    if parts.scheme != "https" and not (_local_allowed() and parts.scheme == "http"):
        return "Give an https:// URL."
    if not hostname or parts.username or parts.password:
        return "Give a URL with a host name and no credentials."
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        # IPv6 forms carrying an IPv4 address are judged by it: Python 3.11 calls ::ffff:127.0.0.1,
        # 64:ff9b::a00:1 (NAT64) and 2002:7f00:1:: (6to4) global.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global


def addresses_pin(hostname: str, port: int) -> list[str]:
    """Resolve `hostname` once; the addresses to connect to (in order), when every address it has is allowed."""
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise _AddressRefused(f"The host {hostname} cannot be resolved.") from None
    if not infos:
        raise _AddressRefused(f"The host {hostname} cannot be resolved.")
    if not _local_allowed():
        # All of them, not only the first: a name answering a public and a private address is refused.
        for info in infos:
            if not _address_is_public(info[4][0]):
                raise _AddressRefused("The URL must point to a public address.")
    return list(dict.fromkeys(info[4][0] for info in infos))


def url_check(url: str, *, field: str) -> str:
    """Return `url` when it may be fetched now; 400 naming `field` otherwise (the guard checks again at each connect)."""
    reason = url_refusal(url)
    if reason is None:
        parts = urlsplit(url)
        try:
            addresses_pin(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        except _AddressRefused as exc:
            reason = str(exc)
    if reason is not None:
        raise validation_error(field, reason)
    return url


class _PinnedConnectionMixin:
    def _new_conn(self):
        # Resolve and check once, then connect to a checked address (urllib3 would resolve the name
        # again in create_connection); `host` (Host header, SNI, certificate check) keeps the name.
        hostname = self._dns_host
        addresses = addresses_pin(hostname, self.port)
        try:
            for index, address in enumerate(addresses):
                self._dns_host = address
                try:
                    return super()._new_conn()
                except (NewConnectionError, ConnectTimeoutError):
                    if index == len(addresses) - 1:
                        raise
        finally:
            self._dns_host = hostname


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests transport applying the guard to every request and connection."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPConnectionPool, "https": _PinnedHTTPSConnectionPool}

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        reason = url_refusal(request.url)
        if reason is not None:
            raise IdPRequestRefused(f"{request.url}: {reason}", request=request)
        deadline = time.monotonic() + TIMEOUT_SECONDS
        try:
            # No proxies: the connection goes to the checked address, not to a proxy that resolves again.
            response = super().send(request, stream=True, timeout=(CONNECT_TIMEOUT_SECONDS, TIMEOUT_SECONDS), verify=True, cert=cert, proxies={})
        except _AddressRefused as exc:
            raise IdPRequestRefused(f"{request.url}: {exc}", request=request) from None
        if response.is_redirect:
            # The Location is a new, unchecked destination (the classic way around an SSRF check).
            response.close()
            raise IdPRequestRefused(f"{request.url}: redirects are not followed", request=request, response=response)
        try:
            response._content = _body_read(response, deadline)
        finally:
            response.close()
        return response


def _body_read(response: requests.Response, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
        raise IdPRequestRefused("The response is too large.", response=response)
    chunks, size = [], 0
    while True:
        # The read timeout is per socket read; the deadline bounds a server dripping bytes.
        chunk = response.raw.read(_CHUNK_BYTES, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_DOCUMENT_BYTES:
            raise IdPRequestRefused("The response is too large.", response=response)
        if time.monotonic() > deadline:
            raise IdPRequestRefused("The IdP took too long to answer.", response=response)
        chunks.append(chunk)


def idp_session() -> requests.Session:
    """A requests session whose every request goes through the guard."""
    session = requests.Session()
    session.trust_env = False  # no proxy, .netrc or CA bundle from the environment
    session.max_redirects = 0
    guarded = GuardedAdapter(max_retries=0)
    session.mount("https://", guarded)
    session.mount("http://", guarded)
    return session


@contextlib.contextmanager
def idp_requests_guarded() -> Iterator[None]:
    """Within this block, the requests allauth makes for a sign-in go through the guard (see `guard_active`)."""
    token = _guard_on.set(True)
    try:
        yield
    finally:
        _guard_on.reset(token)


def guard_active() -> bool:
    """Whether the current sign-in is an SSO connection's (its endpoints are the tenant's choice)."""
    return _guard_on.get()


def document_fetch(url: str, *, field: str) -> bytes:
    """GET a public IdP document through the guard; any failure is a 400 naming `field`, never a 500."""
    url_check(url, field=field)
    try:
        with idp_session() as session:
            response = session.get(url, headers={"Accept": "application/json, application/xml"})
    except IdPRequestRefused as exc:
        raise validation_error(field, str(exc)) from None
    except requests.RequestException as exc:
        raise validation_error(field, f"{url} cannot be fetched ({type(exc).__name__}).") from None
    if response.status_code != 200:
        raise validation_error(field, f"{url} answered HTTP {response.status_code}.")
    return response.content
