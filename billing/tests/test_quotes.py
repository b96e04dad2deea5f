"""Quotes: a plan with add-ons priced from the catalog (free, manual) or by Stripe's preview (a running subscription)."""

from datetime import UTC, datetime

import pytest

from billing.models import AddOn, Plan, Subscription
from billing.tests.conftest import code_of
from billing.tests.stripe_fake import StripeFailure

pytestmark = pytest.mark.django_db

QUOTE = "/api/v1/billing/quote"


def quote(client, **body):
    return client.post(QUOTE, body, format="json")


# --- from free: the catalog's prices ---------------------------------------------------------------------


def test_quote_from_free_prices_the_plan_and_add_ons_from_the_catalog(team, fake_stripe):
    organization, members, clients = team

    response = quote(clients["owner"], plan="pro", interval="month", months=3, add_ons=[{"code": "extra_seats", "quantity": 2}])

    assert response.status_code == 200, response.content
    assert response.json() == {
        "currency": "usd",
        "amount_due_now": (2900 + 2 * 1000) * 3,
        "recurring": {"amount": 2900 + 2 * 1000, "interval": "month"},
        "proration": {"credit": 0, "charge": 0},
        "lines": [
            {"description": "Pro (monthly) × 1 × 3 periods", "amount": 2900 * 3},
            {"description": "Extra seats (monthly) × 2 × 3 periods", "amount": 2000 * 3},
        ],
    }
    assert fake_stripe.requests == []  # nothing asked of Stripe


def test_a_yearly_per_seat_quote_counts_members_and_years(team):
    organization, members, clients = team

    body = quote(clients["admin"], plan="team", interval="year", months=24).json()

    assert body["recurring"] == {"amount": 15000 * 4, "interval": "year"}  # 4 members, per seat
    assert body["amount_due_now"] == 15000 * 4 * 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan": "platinum"}, "plan"),
        ({"plan": "free", "add_ons": [{"code": "extra_seats"}]}, "add_ons"),
        ({"plan": "pro", "add_ons": [{"code": "teleport"}]}, "add_ons"),
        ({"plan": "pro", "add_ons": [{"code": "extra_seats"}, {"code": "extra_seats", "quantity": 2}]}, "add_ons"),
        ({"plan": "pro", "add_ons": [{"code": "extra_seats", "price": 1}]}, "add_ons"),
        ({"plan": "pro", "interval": "year", "months": 13}, "months"),
        ({"plan": "pro", "months": 0}, "months"),
        ({"plan": "pro", "interval": "week"}, "interval"),
        ({"plan": "pro", "discount": 100}, "discount"),
    ],
)
def test_quote_input_is_checked(team, body, field):
    organization, members, clients = team

    response = clients["owner"].post(QUOTE, body, format="json")

    assert response.status_code == 400 and field in response.json()["error"]["details"], response.content


def test_a_quote_for_free_costs_nothing(team):
    organization, members, clients = team

    body = quote(clients["owner"], plan="free").json()

    assert body["amount_due_now"] == 0 and body["recurring"] == {"amount": 0, "interval": "month"}


def test_a_manual_subscription_is_quoted_from_the_catalog_with_its_add_ons(team):
    organization, members, clients = team
    Subscription.objects.create(
        organization=organization,
        plan=Plan.objects.get(code="pro"),
        provider=Subscription.Provider.MANUAL,
        active_until=datetime(2100, 1, 1, tzinfo=UTC),
    )
    clients["owner"].post("/api/v1/billing/add-ons/extra_storage", {"quantity": 2}, format="json")

    kept = quote(clients["owner"], plan="pro", months=6).json()
    dropped = quote(clients["owner"], plan="pro", months=6, add_ons=[]).json()

    assert kept["recurring"]["amount"] == 2900 + 2 * 500 and kept["amount_due_now"] == (2900 + 1000) * 6
    assert dropped["recurring"]["amount"] == 2900


# --- from a paid Stripe subscription: Stripe's preview ---------------------------------------------------------------


def test_quote_from_a_paid_stripe_subscription_uses_stripes_preview(team, subscribe, fake_stripe, synced_plans):
    organization, members, clients = team
    subscription = subscribe(clients["owner"], plan="pro")
    seats = AddOn.objects.get(code="extra_seats")

    response = quote(clients["admin"], plan="team", interval="month", add_ons=[{"code": "extra_seats", "quantity": 1}])

    assert response.status_code == 200, response.content
    body = response.json()
    preview = fake_stripe.calls("POST", "/v1/invoices/create_preview")[0]
    assert preview["subscription"] == subscription["id"]
    plan_item = subscription["items"]["data"][0]["id"]
    assert preview["subscription_details"]["items"] == [
        {"id": plan_item, "price": synced_plans["team"].stripe_price_month_id, "quantity": "4"},
        {"price": seats.stripe_price_month_id, "quantity": "1"},
    ]
    assert body["currency"] == "usd"
    assert body["recurring"] == {"amount": 1500 * 4 + 1000, "interval": "month"}
    assert 0 < body["proration"]["credit"] <= 2900
    assert 0 < body["proration"]["charge"] <= 1500 * 4 + 1000
    assert body["amount_due_now"] == body["proration"]["charge"] - body["proration"]["credit"]
    assert sum(line["amount"] for line in body["lines"]) == body["amount_due_now"] + body["recurring"]["amount"]
    assert Subscription.objects.get(organization=organization).plan.code == "pro"  # a quote changes nothing


def test_a_stripe_quote_keeps_held_add_ons_unless_told_otherwise(team, subscribe, fake_stripe, synced_plans):
    organization, members, clients = team
    owner = clients["owner"]
    subscribe(owner, plan="pro")
    owner.post("/api/v1/billing/add-ons/extra_storage", {}, format="json")
    storage = AddOn.objects.get(code="extra_storage")

    yearly = quote(owner, plan="pro", interval="year").json()
    without = quote(owner, plan="pro", add_ons=[]).json()

    kept_items = fake_stripe.calls("POST", "/v1/invoices/create_preview")[0]["subscription_details"]["items"]
    assert kept_items[1]["price"] == storage.stripe_price_year_id and kept_items[1]["quantity"] == "1"
    assert yearly["recurring"] == {"amount": 29000 + 5000, "interval": "year"}
    dropped_items = fake_stripe.calls("POST", "/v1/invoices/create_preview")[1]["subscription_details"]["items"]
    assert dropped_items[1]["deleted"] == "true"
    assert without["recurring"]["amount"] == 2900 and without["proration"]["charge"] == 0 and without["amount_due_now"] == 0


def test_stripe_down_is_a_503(team, subscribe, fake_stripe):
    organization, members, clients = team
    subscribe(clients["owner"], plan="pro")
    fake_stripe.fail_next = StripeFailure(500, "boom", kind="api_error", code="")

    response = quote(clients["owner"], plan="team")

    assert response.status_code == 503 and code_of(response) == "SERVICE_UNAVAILABLE"


# --- who may ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)])
def test_quotes_need_billing_read(team, role, status):
    organization, members, clients = team

    assert quote(clients[role], plan="pro").status_code == status


def test_another_org_cannot_be_quoted_through_the_header(team, org_factory):
    organization, members, clients = team
    other, _ = org_factory()

    response = clients["owner"].post(QUOTE, {"plan": "pro"}, format="json", HTTP_X_ORG_ID=str(other.id))

    assert response.status_code == 403 and code_of(response) == "INVALID_ORG_CONTEXT"
