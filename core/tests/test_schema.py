"""OpenAPI schema and the documentation pages (served without a CDN)."""

import pytest
import yaml
from django.core.management import call_command


def test_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")
    # Routes are listed without a trailing slash (the slash is optional at run time); `/` is the root.
    assert "/api/v1/auth/setup-status" in schema["paths"]
    assert not [path for path in schema["paths"] if path.endswith("/") and path != "/"]


def test_paginated_lists_document_page_and_limit(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    schema = yaml.safe_load(target.read_text())

    operation = schema["paths"]["/api/v1/auth/sessions"]["get"]

    assert {parameter["name"] for parameter in operation["parameters"]} >= {"page", "limit"}


@pytest.mark.parametrize("path", ["/api/schema", "/api/schema/", "/api/docs", "/api/redoc"])
def test_docs_pages_answer(api_client, db, path):
    response = api_client.get(path)

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_docs_pages_load_assets_locally(api_client, db, path):
    html = api_client.get(path).content.decode()

    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr.net" not in html


def test_org_header_is_documented_exactly_where_the_org_comes_from_it(tmp_path):
    """X-Org-ID (added by core.schema.OrgAutoSchema): on every org-scoped view's operation outside /orgs/{org_id}/, nowhere else."""
    from drf_spectacular.generators import EndpointEnumerator

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]

    wrong = []
    for path, _, method, view in EndpointEnumerator().get_api_endpoints():
        if not path.startswith("/api/v1/"):
            continue  # the schema and docs pages themselves
        parameters = paths[path][method.lower()].get("parameters", [])
        documented = any(p["name"] == "X-Org-ID" and p["in"] == "header" for p in parameters)
        expected = getattr(view.cls, "org_scoped", False) and "{org_id}" not in path
        if documented != expected:
            wrong.append(f"{method} {path}")
    assert not wrong
    assert "X-Org-ID" in {p["name"] for p in paths["/api/v1/billing/subscription"]["get"]["parameters"]}
