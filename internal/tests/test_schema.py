"""The internal routes are in the OpenAPI schema, signed with both service headers."""

import yaml
from django.core.management import call_command

ROUTES = {
    "/internal/v1/validate-token": "post",
    "/internal/v1/users/{user_id}": "get",
    "/internal/v1/orgs/{org_id}": "get",
    "/internal/v1/orgs/{org_id}/members/{user_id}": "get",
    "/internal/v1/check": "post",
    "/internal/v1/check-many": "post",
    "/internal/v1/orgs/{org_id}/check-limit": "post",
    "/internal/v1/orgs/{org_id}/usage": "post",
    "/internal/v1/plans/{code}/features": "get",
}


def test_schema_lists_the_internal_routes_with_the_signature_scheme(tmp_path):
    # given
    target = tmp_path / "schema.yaml"

    # when
    call_command("spectacular", "--file", str(target))
    schema = yaml.safe_load(target.read_text())

    # then
    schemes = schema["components"]["securitySchemes"]
    assert schemes["serviceName"] == {**schemes["serviceName"], "type": "apiKey", "in": "header", "name": "X-Service-Name"}
    assert schemes["serviceSignature"]["name"] == "X-Service-Signature"
    for path, method in ROUTES.items():
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"serviceName": [], "serviceSignature": []}], path
        assert operation["summary"]
        assert "401" in operation["responses"]
    usage = schema["paths"]["/internal/v1/orgs/{org_id}/usage"]["post"]["responses"]
    assert {"200", "402", "409"} <= set(usage)
