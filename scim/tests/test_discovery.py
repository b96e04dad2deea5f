"""ServiceProviderConfig, ResourceTypes and Schemas (RFC 7643 §5-7), behind the org's token."""

import pytest

from scim.tests.conftest import GROUP, LIST, SCIM_JSON, USER, scim_error

pytestmark = pytest.mark.django_db


def test_service_provider_config(idp, org):
    response = idp.get("ServiceProviderConfig")

    assert response.status_code == 200
    assert response["Content-Type"].startswith(SCIM_JSON)
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["patch"] == {"supported": True}
    assert body["filter"]["supported"] is True
    assert body["bulk"]["supported"] is False
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_resource_types(idp, org):
    body = idp.get("ResourceTypes").json()

    assert body["schemas"] == [LIST]
    assert {item["id"]: item["endpoint"] for item in body["Resources"]} == {"User": "/Users", "Group": "/Groups"}
    assert idp.get("ResourceTypes/User").json()["schema"] == USER
    scim_error(idp.get("ResourceTypes/Device"), 404)


def test_schemas(idp):
    body = idp.get("Schemas").json()

    assert [item["id"] for item in body["Resources"]] == [USER, GROUP]
    user = idp.get(f"Schemas/{USER}").json()
    names = [attribute["name"] for attribute in user["attributes"]]
    assert {"userName", "name", "active", "emails", "groups"} <= set(names)
    scim_error(idp.get("Schemas/urn:nope"), 404)


def test_discovery_needs_the_token(org):
    from django.test import Client

    scim_error(Client().get(f"/scim/v2/{org.id}/ServiceProviderConfig"), 401)
