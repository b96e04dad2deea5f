"""SCIM's changes in the org's audit log, as its admins read it: actor `{type: "scim", id: <token id>}`."""

import pytest

from conftest import client_for
from scim.models import ScimToken
from scim.tests.conftest import new_user

pytestmark = pytest.mark.django_db


def test_the_audit_log_shows_scim_as_the_actor(idp, org, owner):
    assert idp.post("Users", new_user()).status_code == 201
    token = ScimToken.objects.get(organization=org)
    client = client_for(owner.user, org)

    events = client.get(f"/api/v1/orgs/{org.id}/audit-logs", {"actor": str(token.id)}).json()["data"]
    actors = client.get(f"/api/v1/orgs/{org.id}/audit-logs/actors").json()["data"]

    assert {event["action"] for event in events} == {"user.created", "member.added"}
    assert {(event["actor"]["type"], event["actor"]["id"]) for event in events} == {("scim", str(token.id))}
    assert {"id": str(token.id), "type": "scim"}.items() <= next(actor for actor in actors if actor["type"] == "scim").items()
