"""Bugs the schema fuzzer (test_fuzz_api.py) found, pinned by name."""

import jsonschema
import pytest
from django.db import connection
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def openapi():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(("component", "field"), [("Organization", "website"), ("User", "avatar_url")])
def test_blank_urls_are_documented_as_allowed(openapi, component, field):
    # A blank model URLField answers "", which a bare `format: uri` refuses.
    schema = openapi["components"]["schemas"][component]["properties"][field]
    checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    assert checker.is_valid("")
    assert checker.is_valid("https://example.com/a")
    assert not checker.is_valid(12)


def test_every_api_error_response_documents_the_envelope(openapi):
    for path, item in openapi["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            assert "401" in operation["responses"] and "429" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if str(status).startswith("4"):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_an_error_in_a_non_atomic_function_view_does_not_doom_the_outer_transaction(api_client, db):
    # /health/ready runs outside the request transaction (@non_atomic_requests on the function
    # the URL resolves to); its 405 must not mark an enclosing transaction for rollback.
    response = api_client.post("/health/ready")

    assert response.status_code == 405
    assert connection.needs_rollback is False
    assert api_client.get("/health/ready").json()["checks"]["database"] == "ok"


def test_a_page_past_the_last_is_a_documented_404(openapi, auth_client):
    # DRF answers 404 "Invalid page." for a page past the end: the schema must say so.
    assert "404" in openapi["paths"]["/api/v1/auth/sessions"]["get"]["responses"]

    response = auth_client.get("/api/v1/auth/sessions?page=128")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
