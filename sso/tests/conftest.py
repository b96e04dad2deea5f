"""Fixtures of the SSO tests: a real OpenID Provider (panva/oidc-provider) on loopback, and an org set up for SSO."""

import os
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from billing.tests.test_entitlements import put_on
from conftest import client_for
from core import clock
from organizations.models import Domain
from organizations.tests.factories import MembershipFactory, OrganizationFactory

PEER_DIR = Path(__file__).parent / "oidc_peer"
CONNECTIONS = "/api/v1/orgs/{org}/sso/connections"
START = "/api/v1/auth/sso/start"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def oidc_peer():
    """The issuer URL of oidc-provider 9 running on loopback for the whole run (installed with `npm ci` when missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the OpenID Provider peer (oidc-provider)")
    if not (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, capture_output=True, timeout=300)
    port = _free_port()
    process = subprocess.Popen(
        [node, "provider.mjs"], cwd=PEER_DIR, env={**os.environ, "PORT": str(port)}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = process.stdout.readline()
        if not line.startswith("READY "):
            pytest.fail(f"the OpenID Provider peer did not start: {line!r}")
        issuer = line.split(" ", 1)[1].strip()
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


def oidc_client_register(issuer: str, redirect_uri: str) -> dict:
    """Register a client at the peer (dynamic registration), as an admin would in the IdP's console."""
    response = requests.post(
        f"{issuer}/reg",
        json={
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def verified_domain(organization, name: str) -> Domain:
    return Domain.objects.create(organization=organization, domain=name, verification_token="t" * 40, verified_at=clock.now())


@pytest.fixture
def local_idp(settings):
    """IdPs on loopback over http are allowed (the test peers); production keeps them out."""
    settings.SSO_ALLOW_LOCAL_IDP = True


@pytest.fixture
def corp(db, local_idp):
    """An org on the `team` plan (it includes `sso`) that verified corp.test, with its owner and an admin."""
    organization = OrganizationFactory(name="Corp", slug="corp")
    put_on(organization, "team")
    verified_domain(organization, "corp.test")
    owner = MembershipFactory(organization=organization, role="owner", user__email="owner@corp.test")
    admin = MembershipFactory(organization=organization, role="admin", user__email="admin@corp.test")
    organization.owner, organization.admin = owner.user, admin.user
    return organization


@pytest.fixture
def corp_admin(corp):
    return client_for(corp.admin, corp)


def frontend_fragment(response) -> dict:
    """The `#...` parameters of a redirect to the front end's landing page."""
    assert response.status_code == 302, response.content
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{django_settings.FRONTEND_URL}/auth/callback", response["Location"]
    return dict(parse_qsl(url.fragment))
