"""One entitlement service for every app: limits, feature flags, token claims, usage and metering."""

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from billing import catalog, selectors
from billing.models import Plan, Subscription, UsageCounter
from billing.services.usage import usage_consume, usage_record
from billing.tests.conftest import code_of
from core import entitlements, hooks
from core.actor import Actor
from core.exceptions import ApplicationError
from permissions import apikeys

pytestmark = pytest.mark.django_db


def put_on(organization, code: str) -> Subscription:
    """Give an org a plan directly (as a manual subscription running for a year)."""
    account, _ = Subscription.objects.update_or_create(
        organization=organization,
        defaults={
            "plan": Plan.objects.get(code=code),
            "provider": Subscription.Provider.MANUAL,
            "status": Subscription.Status.ACTIVE,
            "active_until": datetime(2100, 1, 1, tzinfo=UTC),
        },
    )
    return account


def test_the_migration_seeds_the_catalogs_plans():
    for definition in catalog.DEFAULT_PLANS:
        plan = Plan.objects.get(code=definition["code"])
        assert plan.limits == definition["limits"] and plan.features == definition["features"]
        assert (plan.price_month, plan.price_year, plan.per_seat) == (definition["price_month"], definition["price_year"], definition["per_seat"])


def test_hooks_answer_from_the_orgs_plan(org_factory):
    organization, _ = org_factory()

    assert entitlements.limit_of(organization, "max_members") == 5
    assert entitlements.has_feature(organization, "custom_slug") is False
    assert entitlements.limit_of(organization, "max_widgets") is None  # names billing does not know: unlimited
    assert entitlements.has_feature(organization, "teleport") is False  # unknown flags: off
    put_on(organization, "team")
    assert entitlements.limit_of(organization, "max_members") is None
    assert entitlements.limit_of(organization, "audit_retention_days") == 365
    assert entitlements.has_feature(organization, "sso") is True
    assert hooks.plan_claims(organization=organization) == {
        "plan": "team",
        "features": {"custom_slug": True, "sso": True, "advanced_analytics": True, "white_label": True},
    }


def test_plans_edited_in_the_database_apply_at_once(org_factory):
    organization, _ = org_factory()
    Plan.objects.filter(code="free").update(max_members=2)

    assert entitlements.limit_of(organization, "max_members") == 2


def test_a_free_org_cannot_change_its_slug_but_a_pro_one_can(team):
    organization, members, clients = team
    url = f"/api/v1/orgs/{organization.id}"

    refused = clients["owner"].patch(url, {"slug": "brand-new-slug"}, format="json")
    put_on(organization, "pro")
    allowed = clients["owner"].patch(url, {"slug": "brand-new-slug"}, format="json")

    assert refused.status_code == 402 and code_of(refused) == "PLAN_UPGRADE_REQUIRED"
    assert allowed.status_code == 200 and allowed.json()["slug"] == "brand-new-slug"


def test_api_keys_are_limited_by_the_plan(team):
    organization, members, clients = team
    for index in range(5):
        apikeys.api_key_create(organization=organization, name=f"k{index}", grantable=frozenset({"org:read"}), scopes=["org:read"], actor=Actor.system())

    refused = clients["owner"].post(f"/api/v1/orgs/{organization.id}/api-keys", {"name": "sixth", "scopes": ["org:read"]}, format="json")

    assert refused.status_code == 402 and code_of(refused) == "PLAN_LIMIT_REACHED"
    assert refused.json()["error"]["details"] == {"limit": 5, "used": 5, "entitlement": "max_api_keys"}


# --- usage -------------------------------------------------------------------------------------------


def test_usage_reports_every_key_with_its_limit(team, monkeypatch):
    organization, members, clients = team
    # Apps billing cannot see report through the hook; every provider's counts add up.
    monkeypatch.setattr(
        hooks.usage_counts,
        "providers",
        (
            lambda organization: {"integrations": 2},
            lambda organization: {"storage_mb": 120, "integrations": 1},
        ),
    )
    usage_record(organization=organization, metric=catalog.Metric.AI_REQUESTS, quantity=7)

    body = clients["admin"].get("/api/v1/billing/usage").json()

    assert body == {
        "members": {"used": 4, "limit": 5},
        "api_keys": {"used": 0, "limit": 5},
        "integrations": {"used": 3, "limit": 2},
        "storage_mb": {"used": 120, "limit": 500},
        "ai_requests": {"used": 7, "limit": 100},
    }


@pytest.mark.parametrize(
    ("feature", "expected"),
    [
        ("members", {"allowed": True, "used": 4, "limit": 5}),
        ("api_keys", {"allowed": True, "used": 0, "limit": 5}),
        ("ai_requests", {"allowed": False, "used": 100, "limit": 100}),
    ],
)
def test_check_limit(team, feature, expected):
    organization, members, clients = team
    usage_record(organization=organization, metric=catalog.Metric.AI_REQUESTS, quantity=100)

    response = clients["owner"].post("/api/v1/billing/usage/check-limit", {"feature": feature}, format="json")

    assert response.status_code == 200 and response.json() == expected


def test_check_limit_takes_only_usage_keys_and_unlimited_is_null(team):
    organization, members, clients = team
    put_on(organization, "team")

    unknown = clients["owner"].post("/api/v1/billing/usage/check-limit", {"feature": "max_members"}, format="json")
    unlimited = clients["owner"].post("/api/v1/billing/usage/check-limit", {"feature": "members"}, format="json")

    assert unknown.status_code == 400 and "feature" in unknown.json()["error"]["details"]
    assert unlimited.json() == {"allowed": True, "used": 4, "limit": None}


def test_usage_counters_are_monthly(org_factory):
    organization, _ = org_factory()

    with freeze_time("2026-03-31 23:59:00"):
        usage_record(organization=organization, metric="ai_requests", quantity=3)
        assert usage_record(organization=organization, metric="ai_requests") == 4
    with freeze_time("2026-04-01 00:01:00"):
        assert selectors.usage_count(organization=organization, metric="ai_requests") == 0
        usage_record(organization=organization, metric="ai_requests", quantity=2)

    assert dict(UsageCounter.objects.values_list("period", "count")) == {
        datetime(2026, 3, 1).date(): 4,
        datetime(2026, 4, 1).date(): 2,
    }
    with pytest.raises(ValueError):
        usage_record(organization=organization, metric="bananas")


def test_usage_consume_refuses_past_the_monthly_allowance(org_factory):
    organization, _ = org_factory()
    usage_record(organization=organization, metric="ai_requests", quantity=99)

    assert usage_consume(organization=organization, metric="ai_requests") == 100
    with pytest.raises(ApplicationError) as refused:
        usage_consume(organization=organization, metric="ai_requests")

    assert refused.value.status_code == 402 and refused.value.code == "PLAN_LIMIT_REACHED"
    assert selectors.usage_count(organization=organization, metric="ai_requests") == 100
