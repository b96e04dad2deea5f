"""Fuzz every operation of our own OpenAPI schema with schemathesis.

The schema is the document `/api/schema` serves, built in-process by the same generator, and
every generated request goes through the WSGI application, signed in as a real user who owns an organization
(`Authorization: Bearer` + `X-Org-ID`), so org-scoped operations run their real code.
Each operation is its own pytest item, so its writes are rolled back before the next one:
a destructive operation (org delete, logout-all, account delete) only ever harms the
examples of its own item, which document those outcomes (401/404).

Checks: no 5xx; every status code is documented; the body matches the documented schema
and content type; no body holds a password hash or an already-shown secret. Bounded in `make test` (FUZZ_MAX_EXAMPLES, default 4, derandomized);
`make fuzz` runs more examples per operation.
"""

import json
import os

import pytest
import responses
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import client_for

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "4"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Operations left out, each for a reason (everything else in the schema is fuzzed):
EXCLUDED_PATHS = [
    # Google sign-in hands over to Google (a redirect out, then a server-to-server code
    # exchange): it is covered by accounts/tests/test_oauth_google.py with a fake Google.
    "/api/v1/auth/google/callback",
]


def _served_schema() -> dict:
    """Build the document `/api/schema` serves, in-process (collection runs without a database)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(_served_schema()).exclude(path=EXCLUDED_PATHS)
# Requests go straight into the WSGI application: no server, same database connection as the test.
schema.app = get_wsgi_application()


@pytest.fixture
def fuzz_world(db, unlimited_plan):
    """An org owned by a signed-in user, with a second member and a team to aim path ids at."""
    from organizations.tests.factories import MembershipFactory, OrganizationFactory, TeamFactory

    organization = OrganizationFactory()
    owner = MembershipFactory(organization=organization, role="owner")
    member = MembershipFactory(organization=organization, role="member")
    team = TeamFactory(organization=organization)
    tokens = client_for(owner.user, organization).tokens
    return {
        "headers": {"Authorization": f"Bearer {tokens['access_token']}", "X-Org-ID": str(organization.id)},
        "path_ids": {"org_id": str(organization.id), "user_id": str(member.user_id), "team_id": str(team.id)},
    }


@pytest.fixture
def keep_test_connection():
    """Keep the test's connection open across requests, as Django's test client does.

    The WSGI handler closes "old" connections when a request starts and ends; inside the
    test transaction that would leave it unusable for the next request.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# The billing tests' Razorpay fake (session-wide server; `fake_razorpay` points the SDK at it).
from billing.tests.razorpay_fake import fake_razorpay, razorpay_server  # noqa: E402, F401


@pytest.fixture(scope="module")
def stripe_server():
    """The billing tests' local Stripe fake, so billing operations run instead of answering 503."""
    from billing.tests.stripe_fake import FakeStripe

    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def ai_server():
    """The AI tests' local OpenAI-compatible fake, so AI chat runs instead of answering 503."""
    from ai.tests.fake_openai import FakeOpenAI

    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def no_network(stripe_server, ai_server, settings, monkeypatch, request):
    """Stripe, Razorpay and the AI provider are local fakes; any other outbound HTTP call (Google, providers) fails."""
    razorpay = request.getfixturevalue("fake_razorpay")
    import stripe

    settings.AI_BASE_URL, settings.AI_MODEL, settings.AI_API_KEY = ai_server.url, "fake", "sk-fuzz"

    stripe_server.reset()
    monkeypatch.setattr(stripe, "api_base", stripe_server.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    settings.STRIPE_SECRET_KEY = "sk_test_" + "FuzzKey0123456789abcdefXYZ"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_fuzz_0123456789abcdef"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(stripe_server.url)
        mock.add_passthru(razorpay.url)
        yield


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_operation_conforms_to_its_schema(case, fuzz_world, keep_test_connection, no_network, leak_guard):
    # Point known path ids at real rows so the happy paths run too (others stay random: 404s).
    for name, value in fuzz_world["path_ids"].items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    # Our credentials and org win over generated ones (schemathesis still probes missing auth).
    case.headers = {**(case.headers or {}), **fuzz_world["headers"]}
    response = case.call_and_validate(checks=CHECKS)
    # Nor may any response hold a password hash or a secret shown before (root conftest).
    leak_guard.check(response.content, f"{case.method} {case.formatted_path}")
