"""Every server-side request we make to an IdP: discovery, SAML metadata, token, userinfo, JWKS.

Those URLs come from a tenant (the issuer or metadata URL an org admin typed, and the endpoints the
IdP's own documents name), so each request is a server-side request forgery vector. The guard:
- https only, a host name and no credentials in the URL;
- the host is resolved once per connection, every address must be public, and the socket connects
  to the address that was checked (DNS rebinding between a check and the connect gets nowhere);
  the Host header, TLS SNI and certificate verification still use the host name;
- no redirect is followed (a 3xx is a refusal), no proxy from the environment;
- a response size cap, and one deadline for the whole exchange: every socket read (status line,
  headers, body) waits at most the time left, so a peer dripping bytes cannot hold a worker;
- any transport failure (a body cut short, a broken connection) is a refusal, never a 500.
`SSO_ALLOW_LOCAL_IDP` lifts the https and public-address rules for development and the test suite
(the IdP peers run on loopback over http).
"""

import contextlib
import contextvars
import http.client
import io
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
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError

from core.exceptions import validation_error

MAX_DOCUMENT_BYTES = 1_000_000
TIMEOUT_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 5
_CHUNK_BYTES = 64 * 1024

_guard_on: contextvars.ContextVar[bool] = contextvars.ContextVar("sso_idp_guard", default=False)
# The time.monotonic() by which the current guarded request must be over (set by GuardedAdapter.send).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("sso_idp_deadline", default=None)


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


# IPv6 ranges whose last 32 bits are an IPv4 address: IPv4-compatible (::a.b.c.d), SIIT
# (::ffff:0:a.b.c.d) and the well-known NAT64 prefix (64:ff9b::a.b.c.d).
_IPV4_IN_LOW_BITS = tuple(ipaddress.ip_network(net) for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96"))
# Local-use NAT64 (RFC 8215): translates to IPv4 networks of the operator's choosing, at any prefix length.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _IPV4_IN_LOW_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        if ip in _LOCAL_NAT64 or ip.is_site_local:
            return False
        # IPv6 forms carrying an IPv4 address are judged by it: Python 3.11 calls ::ffff:127.0.0.1,
        # ::7f00:1, ::ffff:0:a9fe:a9fe, 64:ff9b::a00:1 (NAT64) and 2002:7f00:1:: (6to4) global.
        ip = _embedded_ipv4(ip) or ip
    # is_global alone lets multicast (224.0.0.0/4, ff0e::/16) through.
    special = ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local or ip.is_loopback or ip.is_private
    return ip.is_global and not special


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


class _DeadlineSocketIO(socket.SocketIO):
    """A socket reader whose every read waits at most until the request's deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        super().__init__(sock, "rb")
        self._deadline = deadline

    def readinto(self, buffer) -> int | None:
        # The read timeout is per socket read: without this, one byte a second keeps each read short
        # and the request alive for as long as the peer likes.
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("The IdP took too long to answer.")
        self._sock.settimeout(min(remaining, TIMEOUT_SECONDS))
        return super().readinto(buffer)


class _DeadlineSocket:
    """What http.client's response sees of the socket: only `makefile`, which reads under the deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._deadline = sock, deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        self._sock._io_refs += 1  # as socket.makefile does: the socket closes once its readers have
        return io.BufferedReader(_DeadlineSocketIO(self._sock, self._deadline))


class _DeadlineHTTPResponse(http.client.HTTPResponse):
    def __init__(self, sock, *args, **kwargs):
        deadline = _deadline.get()
        super().__init__(sock if deadline is None else _DeadlineSocket(sock, deadline), *args, **kwargs)


class _PinnedConnectionMixin:
    response_class = _DeadlineHTTPResponse

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
        token = _deadline.set(deadline)
        try:
            return self._guarded_send(request, deadline, cert)
        except requests.exceptions.ReadTimeout:
            raise IdPRequestRefused(f"{request.url}: the IdP took too long to answer.", request=request) from None
        except requests.RequestException:
            raise
        except ReadTimeoutError:
            raise IdPRequestRefused(f"{request.url}: the IdP took too long to answer.", request=request) from None
        except (HTTPError, http.client.HTTPException, OSError) as exc:
            # urllib3's errors (a body cut short is a ProtocolError) are not RequestExceptions: callers
            # (document_fetch, allauth at sign-in) would let them through as a 500.
            raise IdPRequestRefused(f"{request.url}: the connection to the IdP broke ({type(exc).__name__}).", request=request) from None
        finally:
            _deadline.reset(token)

    def _guarded_send(self, request, deadline: float, cert) -> requests.Response:
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
        # read1: what one socket read brings, so the size cap and the deadline are checked as bytes arrive
        # (each socket read itself waits at most until the deadline, see _DeadlineSocketIO).
        chunk = response.raw.read1(_CHUNK_BYTES, decode_content=True)
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
