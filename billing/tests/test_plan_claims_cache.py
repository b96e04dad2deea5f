"""Token plan claims are cached per org and follow its subscription row at once."""

import pytest

from billing.tests.test_entitlements import put_on
from core import hooks

pytestmark = pytest.mark.django_db


def claims_of(organization) -> dict:
    return hooks.plan_claims(organization=organization)


def test_claims_are_read_from_the_cache_after_the_first_time(org_factory, django_assert_num_queries):
    organization, _ = org_factory()
    first = claims_of(organization)

    with django_assert_num_queries(0):
        again = claims_of(organization)

    assert first == again and first["plan"] == "free"


def test_a_subscription_change_shows_in_the_next_claims(org_factory):
    organization, _ = org_factory()
    assert claims_of(organization)["plan"] == "free"

    subscription = put_on(organization, "team")
    assert claims_of(organization) == {
        "plan": "team", "features": {"custom_slug": True, "sso": True, "advanced_analytics": True, "white_label": True},
    }  # fmt: skip

    subscription.delete()
    assert claims_of(organization)["plan"] == "free"


def test_a_refreshed_token_carries_the_new_plan(org_factory):
    from conftest import client_for

    organization, members = org_factory()
    client = client_for(members["owner"].user, organization)
    put_on(organization, "pro")

    response = client.post("/api/v1/auth/refresh", {"refresh_token": client.tokens["refresh_token"]}, format="json")

    from rest_framework_simplejwt.tokens import AccessToken

    assert response.status_code == 200
    assert AccessToken(response.json()["access_token"])["plan"] == "pro"
