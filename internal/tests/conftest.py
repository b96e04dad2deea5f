"""Fixtures of the internal API tests: a configured service and a client that signs like one."""

import io
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from internal.authentication import signature_header

SERVICE = "crm"
SECRET = "crm-secret-0123456789abcdef0123456789abcdef"


class SignedClient:
    """A test client that signs every request as a product service would."""

    def __init__(self):
        self.client = APIClient()

    def request(self, method: str, path: str, body=None, *, service=SERVICE, secret=SECRET, timestamp=None, sign_path=None, sign_body=None, **extra):
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        signed = signature_header(
            secret=secret,
            method=method,
            path=sign_path if sign_path is not None else path.split("?")[0],
            body=raw if sign_body is None else sign_body,
            timestamp=timestamp,
        )
        headers = {"HTTP_X_SERVICE_NAME": service, "HTTP_X_SERVICE_SIGNATURE": signed, **extra}
        return self.client.generic(method, path, raw, content_type="application/json", **headers)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body, **kwargs)


@pytest.fixture
def service_keys(settings):
    settings.INTERNAL_SERVICE_KEYS = {SERVICE: SECRET, "billing-worker": "another-secret-with=padding=="}
    return settings.INTERNAL_SERVICE_KEYS


@pytest.fixture
def plans(db):
    """The default plans (the data migration seeds them; again here for runs without migrations)."""
    from billing.models import Plan

    if not Plan.objects.exists():
        call_command("billing_seed_plans", stdout=io.StringIO())
    return {plan.code: plan for plan in Plan.objects.all()}


@pytest.fixture
def signed(db, service_keys, plans) -> SignedClient:
    return SignedClient()


def code_of(response) -> str:
    return response.json()["error"]["code"]
