"""The SSRF guard on every server-side request to an IdP (sso.fetch), on write and at sign-in.

A tenant chooses the issuer / metadata URL, and through its IdP's discovery document the token,
userinfo and JWKS endpoints too: none of them may reach loopback, link-local (cloud metadata) or
private addresses, by name, by literal, by a redirect or by DNS rebinding.
"""

import base64
import io
import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest
import requests
import urllib3
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2 import client as oauth2_client
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from accounts.models import User
from core.exceptions import ApplicationError
from core.testing import LocalHTTPServer
from sso import fetch
from sso.models import SSOConnection
from sso.oidc import SSOOIDCAdapter
from sso.tests.conftest import CONNECTIONS, frontend_fragment
from sso.tests.test_oidc import Browser, oidc_connection_create

PUBLIC_IP = "93.184.216.34"
IDP = "idp.example.com"
ISSUER = f"https://{IDP}"
_real_getaddrinfo = socket.getaddrinfo


def _answer(address: str, port) -> list:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]


class Dns:
    """A resolver the test scripts: each name answers its addresses in turn (the last one repeats)."""

    def __init__(self, monkeypatch, **names: list[str]):
        self.names = {name.replace("_", "."): list(answers) for name, answers in names.items()}
        self.asked: list[str] = []
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)

    def getaddrinfo(self, host, port, *args, **kwargs):
        answers = self.names.get(host)
        if answers is None:
            return _real_getaddrinfo(host, port, *args, **kwargs)  # literals and real local names
        self.asked.append(host)
        return _answer(answers.pop(0) if len(answers) > 1 else answers[0], port)


def connects_recorded(monkeypatch, *, loopback_peer_port: int | None = None) -> list:
    """Every TCP connect urllib3 attempts, recorded; refused, but for the test IdP peer's when given."""
    attempts = []
    real = urllib3.util.connection.create_connection

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        if loopback_peer_port is not None and address == ("127.0.0.1", loopback_peer_port):
            return real(address, *args, **kwargs)
        raise ConnectionRefusedError(f"test: no connection to {address}")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return attempts


@pytest.fixture
def connects(monkeypatch) -> list:
    """Every TCP connect urllib3 attempts, recorded and refused (no traffic leaves the test)."""
    return connects_recorded(monkeypatch)


def discovery(**overrides) -> dict:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "jwks_uri": f"{ISSUER}/jwks",
        "response_types_supported": ["code"],
        **overrides,
    }


def canned(monkeypatch, documents: dict[str, dict]) -> list:
    """Answer HTTPS requests for `documents` (url -> JSON) below the guard: the guard's URL rules still run."""
    seen = []

    def send(self, request, **kwargs):
        seen.append(request.url)
        body = json.dumps(documents[request.url]).encode()
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response.headers["Content-Type"] = "application/json"
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers={"Content-Length": str(len(body))}, status=200, preload_content=False)
        return response

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return seen


def create(admin_client, organization, issuer: str):
    body = {"type": "oidc", "name": "IdP", "domains": ["corp.test"], "oidc": {"issuer": issuer, "client_id": "cid", "client_secret": "s"}}
    return admin_client.post(CONNECTIONS.format(org=organization.id), body, format="json")


@pytest.fixture
def production(settings):
    settings.SSO_ALLOW_LOCAL_IDP = False


# --- on write: the endpoints a discovery document names -------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("jwks_uri", "https://127.0.0.1:6379/"),
        ("token_endpoint", "https://169.254.169.254/latest/meta-data/"),
        ("userinfo_endpoint", "https://[::ffff:10.0.0.1]/userinfo"),
        ("token_endpoint", "https://internal.corp.example/token"),  # a name with a private address
        ("jwks_uri", f"http://{IDP}/jwks"),  # plain http
        ("authorization_endpoint", "https://user:pw@idp.example.com/authorize"),
    ],
)
def test_a_discovery_document_naming_an_internal_endpoint_is_refused_on_save(corp, corp_admin, production, monkeypatch, endpoint, url):
    # given an IdP at a public address whose discovery document names an endpoint inside our network
    Dns(monkeypatch, idp_example_com=[PUBLIC_IP], internal_corp_example=["10.1.2.3"])
    canned(monkeypatch, {f"{ISSUER}/.well-known/openid-configuration": discovery(**{endpoint: url})})
    # when an org admin saves the connection
    response = create(corp_admin, corp, ISSUER)
    # then 400 naming oidc.issuer and the endpoint; nothing saved
    assert response.status_code == 400, response.content
    message = response.json()["error"]["details"]["oidc.issuer"][0]
    assert endpoint in message
    assert not SSOConnection.objects.exists()


def test_a_discovery_document_with_public_endpoints_is_accepted(corp, corp_admin, production, monkeypatch):
    """The control for the test above: the same canned IdP, every endpoint public."""
    Dns(monkeypatch, idp_example_com=[PUBLIC_IP])
    seen = canned(monkeypatch, {f"{ISSUER}/.well-known/openid-configuration": discovery()})
    response = create(corp_admin, corp, ISSUER)
    assert response.status_code == 201, response.content
    assert seen == [f"{ISSUER}/.well-known/openid-configuration"]


def test_a_discovery_document_without_a_userinfo_endpoint_is_refused(corp, corp_admin, production, monkeypatch):
    """Sign-ins read the e-mail at the userinfo endpoint: without one they would fail later, with a 500."""
    Dns(monkeypatch, idp_example_com=[PUBLIC_IP])
    document = discovery()
    del document["userinfo_endpoint"]
    canned(monkeypatch, {f"{ISSUER}/.well-known/openid-configuration": document})
    response = create(corp_admin, corp, ISSUER)
    assert response.status_code == 400 and "userinfo_endpoint" in response.json()["error"]["details"]["oidc.issuer"][0]


# --- at each connect: DNS rebinding and pinning ----------------------------------------------------


def test_dns_rebinding_between_the_save_check_and_the_fetch_never_connects_to_the_private_address(corp, corp_admin, production, monkeypatch, connects):
    # given a name that answers a public address to the check, then loopback (the attacker's DNS, TTL 0)
    dns = Dns(monkeypatch, idp_example_com=[PUBLIC_IP, "127.0.0.1"])
    # when the connection is saved (the check resolves, then the fetch resolves again)
    response = create(corp_admin, corp, ISSUER)
    # then the fetch's own resolution is checked: refused, and no connect was attempted anywhere
    assert response.status_code == 400 and "public address" in response.json()["error"]["details"]["oidc.issuer"][0]
    assert dns.asked == [IDP, IDP]
    assert connects == []


def test_the_connect_goes_to_the_address_that_was_checked(production, monkeypatch, connects):
    # given a name answering a public address once, then a private one to anyone asking again
    dns = Dns(monkeypatch, idp_example_com=[PUBLIC_IP, "10.0.0.7"])
    # when the guard requests it
    with pytest.raises(requests.ConnectionError), fetch.idp_session() as session:
        session.get(f"{ISSUER}/jwks")
    # then it resolved once and connected to that very address (no second lookup by urllib3)
    assert dns.asked == [IDP]
    assert connects == [(PUBLIC_IP, 443)]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:6379/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://0.0.0.0/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "http://example.com/",
    ],
)
def test_literal_internal_addresses_and_plain_http_are_refused_before_any_connect(production, connects, url):
    with pytest.raises(fetch.IdPRequestRefused), fetch.idp_session() as session:
        session.post(url, data={"code": "x"})
    assert connects == []


@pytest.mark.parametrize(
    "address",
    [
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
        "::ffff:0:a9fe:a9fe",  # SIIT 169.254.169.254
        "::ffff:0:7f00:1",  # SIIT 127.0.0.1
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
        "64:ff9b:1:ffff::5db8:d822",  # local-use NAT64, even of a public address
        "fec0::1",  # site-local
        "ff0e::1",  # global-scope multicast
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::",
        "0.0.0.0",
        "100::1",  # discard-only
    ],
)
def test_internal_multicast_reserved_and_ipv4_embedding_addresses_are_not_public(production, monkeypatch, connects, address):
    # given a name resolving to the address (Python 3.11 calls most of these "global")
    Dns(monkeypatch, idp_example_com=[address])
    # when it is checked, and requested
    assert not fetch._address_is_public(address)
    with pytest.raises(ApplicationError) as refused:
        fetch.url_check(f"{ISSUER}/", field="oidc.issuer")
    with pytest.raises(fetch.IdPRequestRefused, match="public address"), fetch.idp_session() as session:
        session.get(f"{ISSUER}/")
    # then refused on save and at the connect, and no connect was attempted
    assert refused.value.status_code == 400 and "oidc.issuer" in refused.value.details
    assert connects == []


@pytest.mark.parametrize(
    "address", [PUBLIC_IP, "1.1.1.1", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1"]
)
def test_public_addresses_and_their_ipv6_embeddings_stay_public(address):
    assert fetch._address_is_public(address)


class _Dripping:
    """A raw loopback HTTP peer: its answer (status line, headers, then body) one byte a second, or a body cut short."""

    def __init__(self, *, drip: str = "body", declared: int = 16, sent: int = 16):
        self.drip, self.declared, self.sent = drip, declared, sent
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % self.declared
            body = b" " * self.sent
            if self.drip == "body":
                connection.sendall(head)
            trickle = head + body if self.drip == "head" else body if self.drip == "body" else b""
            if self.drip == "cut":
                connection.sendall(head + body)  # fewer bytes than declared, then the connection closes
            for byte in trickle:
                if self.stop.wait(1):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
            if self.drip != "cut":
                self.stop.wait(30)  # then silence, the connection held open

    def close(self):
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def dripping(local_idp):
    peers = []

    def start(**kwargs) -> _Dripping:
        peers.append(_Dripping(**kwargs))
        return peers[-1]

    yield start
    for peer in peers:
        peer.close()


@pytest.mark.parametrize("drip", ["head", "body"])
def test_an_idp_dripping_its_answer_is_cut_off_at_the_deadline(dripping, monkeypatch, drip):
    # given a 2 s deadline and an IdP sending its answer one byte a second (each read well inside the read timeout)
    monkeypatch.setattr(fetch, "TIMEOUT_SECONDS", 2)
    peer = dripping(drip=drip, declared=64, sent=64)
    # when its discovery document is fetched
    started = time.monotonic()
    with pytest.raises(ApplicationError) as refused:
        fetch.document_fetch(f"{peer.url}/.well-known/openid-configuration", field="oidc.issuer")
    # then a 400 naming the field, within the deadline (not the minute the drip would take)
    assert time.monotonic() - started < 3
    assert refused.value.status_code == 400 and "took too long" in refused.value.details["oidc.issuer"][0]


def test_a_silent_idp_is_cut_off_at_the_deadline_not_per_read(dripping, monkeypatch):
    # given a deadline shorter than the per-read timeout, and an IdP that sends its headers and then nothing
    monkeypatch.setattr(fetch, "TIMEOUT_SECONDS", 1)
    peer = dripping(drip="body", declared=64, sent=0)
    started = time.monotonic()
    with pytest.raises(fetch.IdPRequestRefused, match="took too long"), fetch.idp_session() as session:
        session.get(f"{peer.url}/jwks")
    assert time.monotonic() - started < 2


def test_an_idp_cutting_its_document_short_is_a_400_naming_the_field_on_create(corp, corp_admin, dripping):
    # given an issuer whose discovery document declares 1000 bytes and closes after 16
    peer = dripping(drip="cut", declared=1000, sent=16)
    corp_admin.raise_request_exception = False
    # when the admin adds the connection
    response = create(corp_admin, corp, peer.url)
    # then 400 naming oidc.issuer (urllib3's ProtocolError is no 500), nothing saved
    assert response.status_code == 400, response.content
    assert "broke" in response.json()["error"]["details"]["oidc.issuer"][0]
    assert not SSOConnection.objects.exists()


def test_an_idp_cutting_its_answer_short_at_sign_in_is_a_refusal(dripping):
    # given the requests session allauth uses within an SSO sign-in, and a token endpoint cutting its answer short
    peer = dripping(drip="cut", declared=1000, sent=16)
    # when the sign-in requests it, then a RequestException allauth turns into an error (not urllib3's ProtocolError)
    with fetch.idp_requests_guarded(), get_adapter().get_requests_session() as session:
        with pytest.raises(fetch.IdPRequestRefused, match="ProtocolError"):
            session.post(f"{peer.url}/token", data={"code": "x"})


class _Recorder(BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):
        type(self).hits.append((self.path, self.headers["Host"]))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/internal-only")
            self.end_headers()
            return
        body = b"x" * (fetch.MAX_DOCUMENT_BYTES + 1) if self.path == "/huge" else b'{"keys": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()  # no Content-Length: the cap must hold while reading
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder(local_idp):
    _Recorder.hits = []
    with LocalHTTPServer(_Recorder) as server:
        yield server


def test_the_pinned_connection_keeps_the_host_name_in_the_host_header(recorder, monkeypatch):
    # given (loopback allowed, as in development) a name that rebinds after its first answer
    port = urlsplit(recorder.url).port
    Dns(monkeypatch, idp_example_com=["127.0.0.1", "10.0.0.7"])
    # when the guard requests it
    with fetch.idp_session() as session:
        response = session.get(f"http://{IDP}:{port}/jwks")
    # then it reached the first (checked) address, and the IdP saw its own name
    assert response.status_code == 200 and response.json() == {"keys": []}
    assert _Recorder.hits == [("/jwks", f"{IDP}:{port}")]


@pytest.fixture
def tls_idp(tmp_path, local_idp):
    """An https IdP on loopback with a certificate for idp.example.com (from a CA only this test trusts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, IDP)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(IDP)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server_names = []
    context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)
    _Recorder.hits = []
    server = LocalHTTPServer(_Recorder)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    with server:
        yield {"port": server.httpd.server_address[1], "ca": str(cert_file), "server_names": server_names}


def test_tls_to_the_pinned_address_still_verifies_the_host_name(tls_idp, monkeypatch):
    # given idp.example.com resolving to the TLS IdP, and its CA trusted
    Dns(monkeypatch, idp_example_com=["127.0.0.1"])
    verify = fetch.GuardedAdapter.cert_verify
    monkeypatch.setattr(fetch.GuardedAdapter, "cert_verify", lambda self, conn, url, _, cert: verify(self, conn, url, tls_idp["ca"], cert))
    # when the guard requests it by name, and by the very address it connects to
    with fetch.idp_session() as session:
        response = session.get(f"https://{IDP}:{tls_idp['port']}/jwks")
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://127.0.0.1:{tls_idp['port']}/jwks")
    # then the name was sent as SNI and the certificate matched it; the bare address does not match the certificate
    assert response.status_code == 200 and tls_idp["server_names"][0] == IDP
    assert _Recorder.hits == [("/jwks", f"{IDP}:{tls_idp['port']}")]


def test_a_redirect_is_not_followed(recorder):
    with pytest.raises(fetch.IdPRequestRefused, match="redirects are not followed"), fetch.idp_session() as session:
        session.get(f"{recorder.url}/moved")
    assert [path for path, _ in _Recorder.hits] == ["/moved"]


def test_a_redirect_from_a_document_url_is_a_400_and_not_followed(recorder):
    with pytest.raises(Exception) as refused:
        fetch.document_fetch(f"{recorder.url}/moved", field="saml.metadata_url")
    assert refused.value.status_code == 400 and "saml.metadata_url" in refused.value.details
    assert [path for path, _ in _Recorder.hits] == ["/moved"]


def test_a_response_over_the_size_cap_is_refused(recorder):
    with pytest.raises(fetch.IdPRequestRefused, match="too large"), fetch.idp_session() as session:
        session.get(f"{recorder.url}/huge")


# --- at sign-in -----------------------------------------------------------------------------------


def test_allauths_requests_go_through_the_guard_only_within_an_sso_sign_in():
    """Google's endpoints are the operator's settings: its sign-in keeps allauth's plain session."""
    with get_adapter().get_requests_session() as plain:
        assert not isinstance(plain.get_adapter("https://x.test/"), fetch.GuardedAdapter)
    with fetch.idp_requests_guarded(), get_adapter().get_requests_session() as guarded:
        assert isinstance(guarded.get_adapter("https://x.test/"), fetch.GuardedAdapter)
        assert isinstance(guarded.get_adapter("http://x.test/"), fetch.GuardedAdapter)


@pytest.fixture
def connection(corp, corp_admin, oidc_peer) -> dict:
    return oidc_connection_create(corp_admin, corp, oidc_peer)


def _callback_with_config(monkeypatch, oidc_peer, **overrides) -> str:
    """Go to the IdP and back to our callback URL; from then on the IdP's document names `overrides`."""
    config = requests.get(f"{oidc_peer}/.well-known/openid-configuration", timeout=10).json()
    monkeypatch.setattr(SSOOIDCAdapter, "openid_config", property(lambda self: {**config, **overrides}))
    return config


@pytest.mark.parametrize("token_endpoint", ["http://127.0.0.1:6379/", "https://169.254.169.254/latest/meta-data/iam/security-credentials/"])
def test_a_refused_token_endpoint_at_sign_in_ends_as_an_error_redirect(corp, connection, oidc_peer, monkeypatch, settings, token_endpoint):
    # given a browser back from the IdP with a code, and an IdP whose document now names an internal token endpoint
    browser = Browser()
    callback = browser.sign_in_at_idp(browser.to_idp(browser.start(email="eve@corp.test")), "eve@corp.test")
    _callback_with_config(monkeypatch, oidc_peer, token_endpoint=token_endpoint)
    settings.SSO_ALLOW_LOCAL_IDP = False
    connects = connects_recorded(monkeypatch)
    # when the callback exchanges the code
    response = browser.back_to_us(callback)
    # then the usual error redirect, no connect attempted, no account
    assert frontend_fragment(response) == {"error": "exchange_failed"}
    assert connects == []
    assert not User.objects.filter(email="eve@corp.test").exists()


def test_refused_userinfo_and_jwks_endpoints_at_sign_in_end_as_an_error_redirect(corp, connection, oidc_peer, monkeypatch, settings):
    # given the code exchanged with the IdP (loopback allowed), then the JWKS and userinfo endpoints on the metadata address
    real = oauth2_client.OAuth2Client.get_access_token

    def exchange_then_production(self, code, pkce_code_verifier=None, extra_data=None):
        data = real(self, code, pkce_code_verifier=pkce_code_verifier, extra_data=extra_data)
        settings.SSO_ALLOW_LOCAL_IDP = False
        return data

    monkeypatch.setattr(oauth2_client.OAuth2Client, "get_access_token", exchange_then_production)
    browser = Browser()
    callback = browser.sign_in_at_idp(browser.to_idp(browser.start(email="eve@corp.test")), "eve@corp.test")
    _callback_with_config(monkeypatch, oidc_peer, jwks_uri="https://169.254.169.254/keys", userinfo_endpoint="https://169.254.169.254/userinfo")
    connects = connects_recorded(monkeypatch, loopback_peer_port=urlsplit(oidc_peer).port)
    # when the callback goes on to userinfo and the ID token's keys
    response = browser.back_to_us(callback)
    # then the usual error redirect; only the code exchange reached the IdP, nothing the metadata address
    assert frontend_fragment(response) == {"error": "exchange_failed"}
    assert connects == [("127.0.0.1", urlsplit(oidc_peer).port)]


def test_the_jwks_fetch_itself_goes_through_the_guard(production, connects):
    adapter = SSOOIDCAdapter(None, "any")
    adapter._openid_config = discovery(jwks_uri="https://169.254.169.254/keys")
    # An RS256-labelled token: the signature is never looked at, the keys are never fetched.
    token = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=") for part in ({"alg": "RS256", "kid": "k"}, {"sub": "x"}))
    token += ".c2ln"

    class App:
        client_id = "cid"

    with pytest.raises(OAuth2Error, match="IdPRequestRefused"):
        adapter._decode_id_token(App(), token)
    assert connects == []


def test_a_discovery_document_refused_at_sign_in_ends_as_an_error_redirect(corp, connection, settings, monkeypatch):
    # given a connection saved while its IdP was allowed, and now refused (here: on loopback over http)
    settings.SSO_ALLOW_LOCAL_IDP = False
    browser = Browser()
    login_url = browser.start(email="eve@corp.test")
    connects = connects_recorded(monkeypatch)
    # when the browser opens the login URL (allauth reads the discovery document again)
    response = browser.ours.get(login_url)
    # then the front end gets an error, never a 500, and nothing was requested
    assert frontend_fragment(response) == {"error": "sso_unavailable"}
    assert connects == []


def test_a_discovery_document_refused_at_the_callback_ends_as_an_error_redirect(corp, connection, settings, monkeypatch):
    # given a browser back from the IdP with a code, and the IdP refused since (its discovery is read again)
    browser = Browser()
    callback = browser.sign_in_at_idp(browser.to_idp(browser.start(email="eve@corp.test")), "eve@corp.test")
    settings.SSO_ALLOW_LOCAL_IDP = False
    connects = connects_recorded(monkeypatch)
    # when the callback runs
    response = browser.back_to_us(callback)
    # then an error redirect (not a 500), nothing requested, no account
    assert frontend_fragment(response) == {"error": "sso_unavailable"}
    assert connects == []
    assert not User.objects.filter(email="eve@corp.test").exists()
