"""GET /api/v1/premium/free-feature: any active member of the org in context, on any plan."""

import pytest

from conftest import client_for
from premium.tests.conftest import code_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/premium/free-feature"


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_every_member_gets_it_on_the_free_plan(team, role):
    # given
    _, _, clients = team

    # when
    response = clients[role].get(URL)

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["plan"] == "free" and body["feature"] == "free-feature"
    assert body["features"] == {"custom_slug": False, "sso": False, "advanced_analytics": False, "white_label": False}


def test_it_tells_a_paid_plans_features(team, on_plan):
    organization, _, clients = team
    on_plan(organization, "team")

    body = clients["viewer"].get(URL).json()

    assert body["plan"] == "team" and body["features"]["white_label"] is True


def test_anonymous_is_401_and_another_orgs_context_is_refused(team, org_factory, api_client):
    organization, members, _ = team
    other, other_members = org_factory()
    outsider = client_for(other_members["owner"].user, other)

    anonymous = api_client.get(URL, HTTP_X_ORG_ID=str(organization.id))
    foreign = outsider.get(URL, HTTP_X_ORG_ID=str(organization.id))

    assert anonymous.status_code == 401
    assert foreign.status_code == 403 and code_of(foreign) == "INVALID_ORG_CONTEXT"
