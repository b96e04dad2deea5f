"""Fixtures shared by every app's tests."""

import django.test.client
import pytest
import rest_framework.test
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from core.handlers import AtomicWritesOnly

# The test clients' handlers treat the request transaction as the served ones do (config/asgi.py,
# config/wsgi.py): reads outside it, writes inside. Both names are looked up when a client is made.
django.test.client.ClientHandler = type("ClientHandler", (AtomicWritesOnly, django.test.client.ClientHandler), {})
rest_framework.test.ForceAuthClientHandler = type("ForceAuthClientHandler", (AtomicWritesOnly, rest_framework.test.ForceAuthClientHandler), {})


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (throttle counters, session states) and reads the signing keys afresh."""
    from accounts.signing_keys import keyring
    from accounts.token_backend import verified_tokens

    cache.clear()
    # The process keeps the keys in memory: a key another test made (and rolled back) must not sign here.
    keyring.forget()
    verified_tokens.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _celery_join_state():
    """Each test starts outside any task, as far as Celery can tell.

    Eager Celery marks "inside a task" in a process-wide flag (`denied_join_result`) that saves and
    restores its previous value; threads applying eager tasks at once (the PostgreSQL concurrency
    tests) can interleave those saves and leave it set, and a later test's `.get()` then fails
    with "Never call result.get() within a task!".
    """
    from celery.result import _set_task_join_will_block

    _set_task_join_will_block(False)
    yield
    _set_task_join_will_block(False)


@pytest.fixture(scope="session")
def _response_leak_guard():
    """One guard for the run: every test-client response is scanned (core/testing.py)."""
    from core.testing import ResponseLeakGuard, leak_guard_install

    guard = ResponseLeakGuard()
    uninstall = leak_guard_install(guard)
    yield guard
    uninstall()


@pytest.fixture(autouse=True)
def leak_guard(_response_leak_guard):
    """No response may hold a password hash, a stored secret, or a secret already shown once.

    Tests may forbid more values (e.g. an integration credential they sent):
    `leak_guard.forbid(value, "why")`.
    """
    _response_leak_guard.forbidden.clear()
    yield _response_leak_guard
    _response_leak_guard.forbidden.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


def login_tokens(client: APIClient, email: str, password: str = "S3cure-passphrase!") -> dict:
    """Sign in through the API and return the response body."""
    response = client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def auth_client(db, user) -> APIClient:
    """A client signed in as `user` through the real login endpoint."""
    client = APIClient()
    body = login_tokens(client, user.email)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    client.tokens = body
    client.user = user
    return client


def client_for(user, organization=None, password: str = "S3cure-passphrase!") -> APIClient:
    """A client signed in as `user` through the real login endpoint, with `organization` active."""
    client = APIClient()
    body = {"email": user.email, "password": password}
    if organization is not None:
        body["organization_id"] = str(organization.id)
    response = client.post("/api/v1/auth/login", body, format="json")
    assert response.status_code == 200, response.content
    tokens = response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    client.tokens = tokens
    client.user = user
    return client


@pytest.fixture
def org_factory(db):
    """Make an org with an owner and optional members: returns (org, {role: membership})."""
    from organizations.tests.factories import MembershipFactory, OrganizationFactory

    def make(roles=("owner",), **org_fields):
        organization = OrganizationFactory(**org_fields)
        members = {}
        for role in roles:
            members[role] = MembershipFactory(organization=organization, role=role)
        return organization, members

    return make


@pytest.fixture
def unlimited_plan(monkeypatch):
    """Lift every plan limit and switch every feature on, for tests about something other than billing."""
    from core import entitlements

    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: None)
    monkeypatch.setattr(entitlements.entitlement_feature, "provider", lambda organization, name: True)


@pytest.fixture
def admin_client_otp(db):
    """A Django test client for a superuser whose admin session passed OTP verification."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    staff = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="default", confirmed=True)
    client = Client()
    client.force_login(staff)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def pytest_terminal_summary(terminalreporter):
    """Report what the property tests ran (hypothesis counts), also from xdist workers."""
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for name, value in getattr(report, "user_properties", []):
            if name == "no_escalation":
                terminalreporter.write_line(f"no-escalation property: {value}")
