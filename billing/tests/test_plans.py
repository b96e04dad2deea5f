"""Public plan routes, plan seeding and the Stripe catalog sync."""

import io

import pytest
from django.core.management import call_command
from djstripe import models as dj

from billing.models import Plan

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/plans"


def test_plans_are_public_and_shaped_as_the_contract_says(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")  # a stale token does not break a public read

    body = api_client.get(URL).json()

    assert [p["code"] for p in body["data"]] == ["free", "pro", "team"]
    pro = body["data"][1]
    assert pro == {
        "code": "pro",
        "name": "Pro",
        "description": pro["description"],
        "prices": {"month": 2900, "year": 29000},
        "currency": "usd",
        "per_seat": False,
        "limits": {
            "max_members": 25,
            "max_api_keys": 25,
            "max_integrations": 10,
            "audit_retention_days": 180,
            "storage_mb": 20480,
            "ai_requests_per_month": 5000,
        },
        "features": {"custom_slug": True, "sso": False, "advanced_analytics": True, "white_label": False},
    }


def test_plan_detail_and_unknown_plan(api_client):
    assert api_client.get(f"{URL}/team").json()["limits"]["max_members"] is None
    missing = api_client.get(f"{URL}/platinum")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_retired_plans_are_not_listed(api_client):
    Plan.objects.filter(code="team").update(is_active=False)

    assert [p["code"] for p in api_client.get(URL).json()["data"]] == ["free", "pro"]
    assert api_client.get(f"{URL}/team").status_code == 404


def test_compare_lists_prices_limits_and_features_side_by_side(api_client):
    rows = {row["key"]: row for row in api_client.get(f"{URL}/compare").json()["data"]}

    assert rows["price_month"]["values"] == {"free": 0, "pro": 2900, "team": 1500}
    assert rows["max_members"] == {"key": "max_members", "type": "limit", "values": {"free": 5, "pro": 25, "team": None}}
    assert rows["sso"] == {"key": "sso", "type": "feature", "values": {"free": False, "pro": False, "team": True}}


def test_seed_is_idempotent_and_reset_restores_defaults():
    Plan.objects.filter(code="pro").update(max_members=99)
    Plan.objects.filter(code="team").delete()
    out = io.StringIO()

    call_command("billing_seed_plans", stdout=out)
    call_command("billing_seed_plans", stdout=out)
    assert Plan.objects.get(code="pro").max_members == 99  # admin edits are kept
    call_command("billing_seed_plans", "--reset", stdout=out)

    assert Plan.objects.count() == 3 and Plan.objects.get(code="pro").max_members == 25
    assert "team: created" in out.getvalue() and "pro: kept" in out.getvalue() and "pro: reset" in out.getvalue()


def test_sync_plans_creates_products_and_prices_once(fake_stripe, synced_plans):
    pro = synced_plans["pro"]
    prices_before = len(fake_stripe.calls("POST", "/v1/prices"))

    call_command("billing_sync_plans", stdout=io.StringIO())

    assert pro.stripe_product_id == "saas_plan_pro"
    assert fake_stripe.get(pro.stripe_price_month_id)["unit_amount"] == 2900
    assert fake_stripe.get(pro.stripe_price_year_id)["recurring"]["interval"] == "year"
    assert fake_stripe.get(pro.stripe_price_month_id)["lookup_key"] == "pro_month"
    assert not synced_plans["free"].stripe_product_id  # free has no Stripe objects
    assert len(fake_stripe.calls("POST", "/v1/prices")) == prices_before  # nothing new the second time
    assert dj.Product.objects.filter(id="saas_plan_pro").exists() and dj.Price.objects.filter(id=pro.stripe_price_month_id).exists()


def test_a_new_price_replaces_the_old_one_which_is_archived(fake_stripe, synced_plans):
    old_price = synced_plans["pro"].stripe_price_month_id
    Plan.objects.filter(code="pro").update(price_month=3900)

    call_command("billing_sync_plans", stdout=io.StringIO())

    new_price = Plan.objects.get(code="pro").stripe_price_month_id
    assert new_price != old_price
    assert fake_stripe.get(new_price)["unit_amount"] == 3900 and fake_stripe.get(new_price)["lookup_key"] == "pro_month"
    assert fake_stripe.get(old_price)["active"] is False and fake_stripe.get(old_price)["lookup_key"] is None


def test_a_fresh_database_adopts_existing_stripe_prices_by_lookup_key(fake_stripe, synced_plans):
    product_calls = len(fake_stripe.calls("POST", "/v1/products"))
    price = synced_plans["pro"].stripe_price_month_id
    Plan.objects.update(stripe_product_id="", stripe_price_month_id="", stripe_price_year_id="")

    call_command("billing_sync_plans", stdout=io.StringIO())

    assert Plan.objects.get(code="pro").stripe_price_month_id == price
    # Products are found by their fixed id (modified, not created again).
    assert [c for c in fake_stripe.calls("POST", "/v1/products")[product_calls:] if "id" in c] == []


def test_sync_without_a_key_fails_cleanly(settings, db):
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(Exception, match="not configured"):
        call_command("billing_sync_plans", stdout=io.StringIO())
