"""Subscription endpoints: checkout, portal, change plan (with preview), cancel, reactivate, roles, org context."""

import uuid

import pytest

from audit.models import AuditEvent
from billing.models import Subscription
from billing.tests.conftest import code_of
from billing.tests.stripe_fake import StripeFailure

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/"


def test_an_org_that_never_subscribed_is_free_and_active(team):
    organization, members, clients = team

    body = clients["admin"].get(URL + "subscription").json()

    assert body == {
        "id": None,
        "plan": "free",
        "status": "active",
        "provider": None,
        "interval": None,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "active_until": None,
        "seats": None,
        "add_ons": [],
    }


# --- roles and org context -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "read", "manage"),
    [("owner", 200, 200), ("admin", 200, 403), ("member", 403, 403), ("viewer", 403, 403)],
)
def test_billing_read_and_manage_follow_the_built_in_roles(team, synced_plans, role, read, manage):
    organization, members, clients = team
    client = clients[role]

    assert client.get(URL + "subscription").status_code == read
    assert client.get(URL + "usage").status_code == read
    assert client.get(URL + "invoices").status_code == read
    response = client.post(URL + "checkout", {"plan": "pro"}, format="json")
    assert response.status_code == manage
    if manage == 403:
        assert code_of(response) == "INSUFFICIENT_PERMISSIONS"


def test_org_context_from_header_wins_and_is_checked(team, org_factory):
    organization, members, clients = team
    other, _ = org_factory()
    owner = clients["owner"]

    not_member = owner.get(URL + "subscription", HTTP_X_ORG_ID=str(other.id))
    unknown = owner.get(URL + "subscription", HTTP_X_ORG_ID=str(uuid.uuid4()))
    anonymous = owner.__class__().get(URL + "subscription")

    assert not_member.status_code == 403 and code_of(not_member) == "INVALID_ORG_CONTEXT"
    assert unknown.status_code == 404 and code_of(unknown) == "ORG_NOT_FOUND"
    assert anonymous.status_code == 401


# --- checkout and portal ------------------------------------------------------------------------------------


def test_checkout_creates_one_customer_per_org_and_a_subscription_session(team, synced_plans, fake_stripe):
    organization, members, clients = team
    owner = clients["owner"]

    first = owner.post(URL + "checkout", {"plan": "team", "interval": "year"}, format="json")
    second = owner.post(URL + "checkout", {"plan": "pro"}, format="json")

    assert first.status_code == second.status_code == 200
    assert len(fake_stripe.calls("POST", "/v1/customers")) == 1
    customer = fake_stripe.calls("POST", "/v1/customers")[0]
    assert customer["metadata"] == {"organization_id": str(organization.id)} and customer["email"] == members["owner"].user.email
    session = fake_stripe.calls("POST", "/v1/checkout/sessions")[0]
    assert session["mode"] == "subscription" and session["client_reference_id"] == str(organization.id)
    assert session["line_items"] == [{"price": synced_plans["team"].stripe_price_year_id, "quantity": "4"}]
    assert session["subscription_data"]["metadata"]["organization_id"] == str(organization.id)
    assert session["success_url"].startswith("https://app.example.test/")
    account = Subscription.objects.get(organization=organization)
    assert account.stripe_customer_id.startswith("cus_") and account.plan.code == "free"
    assert AuditEvent.objects.filter(action="billing_customer.created", organization_id=organization.id).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan": "free"}, "plan"),
        ({"plan": "platinum"}, "plan"),
        ({"plan": "pro", "interval": "week"}, "interval"),
        ({"plan": "pro", "success_url": "https://evil.example.com/phish"}, "success_url"),
    ],
)
def test_checkout_validates_its_input(team, synced_plans, body, field):
    organization, members, clients = team

    response = clients["owner"].post(URL + "checkout", body, format="json")

    assert response.status_code == 400 and field in response.json()["error"]["details"]


def test_checkout_is_refused_while_a_subscription_runs(team, subscribe):
    organization, members, clients = team
    subscribe(clients["owner"])

    response = clients["owner"].post(URL + "checkout", {"plan": "team"}, format="json")

    assert response.status_code == 409 and code_of(response) == "CONFLICT"


def test_stripe_down_is_a_503_not_a_500(team, synced_plans, fake_stripe):
    organization, members, clients = team
    fake_stripe.fail_next = StripeFailure(500, "boom", kind="api_error", code="")

    response = clients["owner"].post(URL + "checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 503 and code_of(response) == "SERVICE_UNAVAILABLE"
    assert response["Retry-After"]


def test_unsynced_plans_cannot_be_bought(team, fake_stripe):
    organization, members, clients = team

    response = clients["owner"].post(URL + "checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 503


def test_portal_returns_the_customer_portal_url(team, synced_plans, fake_stripe):
    organization, members, clients = team

    response = clients["owner"].post(URL + "portal", {"return_url": "https://app.example.test/settings/billing"}, format="json")

    assert response.status_code == 200
    assert response.json()["portal_url"].startswith("https://billing.stripe.test/p/session/")
    assert fake_stripe.calls("POST", "/v1/billing_portal/sessions")[0]["return_url"] == "https://app.example.test/settings/billing"


# --- change plan --------------------------------------------------------------------------------------------------


def test_preview_change_shows_the_prorated_amounts_and_changes_nothing(team, subscribe, fake_stripe):
    organization, members, clients = team
    subscribe(clients["owner"], plan="pro")

    response = clients["admin"].get(URL + "subscription/preview-change", {"plan": "team"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["plan"] == "team" and body["interval"] == "month" and body["currency"] == "usd"
    assert [line["proration"] for line in body["lines"]] == [True, True, False]
    assert body["lines"][2]["amount"] == 1500 * 4  # next period: 4 seats of team
    assert body["total"] == sum(line["amount"] for line in body["lines"])
    preview = fake_stripe.calls("POST", "/v1/invoices/create_preview")[0]
    assert preview["subscription_details"]["proration_behavior"] == "create_prorations"
    assert Subscription.objects.get(organization=organization).plan.code == "pro"


def test_change_plan_to_yearly_and_its_guards(team, subscribe, fake_stripe, synced_plans):
    organization, members, clients = team
    owner = clients["owner"]

    from_free = owner.post(URL + "subscription/change-plan", {"plan": "team"}, format="json")
    subscription = subscribe(owner, plan="pro")
    same = owner.post(URL + "subscription/change-plan", {"plan": "pro"}, format="json")
    to_free = owner.post(URL + "subscription/change-plan", {"plan": "free"}, format="json")
    yearly = owner.post(URL + "subscription/change-plan", {"plan": "pro", "interval": "year", "proration_date": 1_900_000_000}, format="json")

    assert from_free.status_code == 200 and set(from_free.json()) == {"checkout_url", "session_id"}  # from free: a checkout
    assert same.status_code == 400 and to_free.status_code == 400
    assert yearly.status_code == 200 and yearly.json()["interval"] == "year" and yearly.json()["plan"] == "pro"
    modify = fake_stripe.calls("POST", f"/v1/subscriptions/{subscription['id']}")[-1]
    assert modify["items"][0]["price"] == synced_plans["pro"].stripe_price_year_id
    assert modify["proration_date"] == "1900000000"


# --- cancel and reactivate ----------------------------------------------------------------------------------------


def test_cancel_at_period_end_then_reactivate(team, subscribe):
    organization, members, clients = team
    owner = clients["owner"]
    subscribe(owner)

    cancelled = owner.post(URL + "subscription/cancel", {}, format="json")
    reactivated = owner.post(URL + "subscription/reactivate")
    again = owner.post(URL + "subscription/reactivate")

    assert cancelled.json()["cancel_at_period_end"] is True and cancelled.json()["plan"] == "pro"
    assert reactivated.status_code == 200 and reactivated.json()["cancel_at_period_end"] is False
    assert again.status_code == 409
    actions = list(AuditEvent.objects.filter(organization_id=organization.id).values_list("action", flat=True))
    assert "subscription.cancelled" in actions and "subscription.reactivated" in actions


def test_cancel_immediately_drops_to_free_at_once(team, subscribe, fake_stripe):
    organization, members, clients = team
    owner = clients["owner"]
    subscription = subscribe(owner)

    response = owner.post(URL + "subscription/cancel", {"immediately": True}, format="json")

    assert response.status_code == 200
    assert response.json()["plan"] == "free" and response.json()["status"] == "canceled"
    assert fake_stripe.get(subscription["id"])["status"] == "canceled"
    assert owner.post(URL + "subscription/cancel", {}, format="json").status_code == 409
