"""Add-ons: the catalog, buying and removing them (Stripe and manual), entitlements = plan + add-ons,
webhooks keeping the holdings in step with Stripe, change-plan from free and auto-renew."""

import io
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from rest_framework.test import APIClient

from audit.models import AuditEvent
from billing import selectors
from billing.models import AddOn, Plan, Subscription, SubscriptionAddOn
from billing.tests.conftest import code_of
from core import authz, entitlements, hooks
from core.actor import Actor
from organizations.models import Membership
from permissions import apikeys

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/"


def put_on(organization, code: str) -> Subscription:
    """Give an org a plan billed outside Stripe (a manual subscription running for years)."""
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


def invite(client, organization, email):
    return client.post(f"/api/v1/orgs/{organization.id}/invites", {"email": email, "role": "member"}, format="json")


def holdings(organization) -> dict[str, int]:
    return dict(SubscriptionAddOn.objects.for_organization(organization).values_list("add_on__code", "quantity"))


# --- catalog --------------------------------------------------------------------------------------------


def test_the_catalog_is_public_and_shaped_as_the_contract_says(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")  # a stale token does not break a public read
    AddOn.objects.filter(code="extra_storage").update(is_active=False)

    body = api_client.get(URL + "add-ons").json()

    assert [a["code"] for a in body["data"]] == ["extra_seats", "white_label"]  # retired ones are not listed
    assert body["data"][0] == {
        "code": "extra_seats",
        "name": "Extra seats",
        "description": "Ten more members per unit.",
        "prices": {"month": 1000, "year": 10000},
        "currency": "usd",
        "grants": {"limits": {"max_members": 10}, "features": {}},
    }
    assert body["data"][1]["grants"] == {"limits": {}, "features": {"white_label": True}}


def test_grants_name_only_known_limits_and_flags():
    add_on = AddOn.objects.get(code="extra_seats")

    add_on.grant_limits = {"max_widgets": 3}
    with pytest.raises(ValidationError):
        add_on.full_clean()
    add_on.grant_limits, add_on.grant_features = {"max_members": 10}, {"teleport": True}
    with pytest.raises(ValidationError):
        add_on.full_clean()


def test_sync_creates_add_on_products_and_prices_with_lookup_keys(fake_stripe, synced_plans):
    seats = AddOn.objects.get(code="extra_seats")
    prices_before = len(fake_stripe.calls("POST", "/v1/prices"))

    out = io.StringIO()
    call_command("billing_sync_plans", stdout=out)

    assert seats.stripe_product_id == "saas_addon_extra_seats"
    month = fake_stripe.get(seats.stripe_price_month_id)
    assert month["unit_amount"] == 1000 and month["lookup_key"] == "addon_extra_seats_month"
    assert month["metadata"] == {"add_on_code": "extra_seats", "interval": "month"}
    assert fake_stripe.get(seats.stripe_price_year_id)["recurring"]["interval"] == "year"
    assert len(fake_stripe.calls("POST", "/v1/prices")) == prices_before  # nothing new the second time
    assert "add-on extra_seats: product saas_addon_extra_seats" in out.getvalue()


# --- buying on Stripe -------------------------------------------------------------------------------------


def test_free_orgs_cannot_buy_add_ons(team, synced_plans):
    organization, members, clients = team

    response = clients["owner"].post(URL + "add-ons/extra_seats", {}, format="json")

    assert response.status_code == 402 and code_of(response) == "PLAN_UPGRADE_REQUIRED"
    assert not SubscriptionAddOn.objects.exists()


def test_buy_change_and_remove_an_add_on_on_a_stripe_subscription(team, subscribe, fake_stripe, synced_plans):
    organization, members, clients = team
    owner = clients["owner"]
    subscription = subscribe(owner, plan="pro")
    seats = AddOn.objects.get(code="extra_seats")

    # when: bought, then two more units, then removed
    bought = owner.post(URL + "add-ons/extra_seats", {"quantity": 2}, format="json")
    after_buy = owner.get(URL + "subscription").json()
    changed = owner.post(URL + "add-ons/extra_seats", {"quantity": 4}, format="json")
    limit_with_four = entitlements.limit_of(organization, "max_members")
    removed = owner.delete(URL + "add-ons/extra_seats")

    # then
    assert bought.status_code == 201, bought.content
    assert bought.json()["code"] == "extra_seats" and bought.json()["quantity"] == 2
    modify_calls = fake_stripe.calls("POST", f"/v1/subscriptions/{subscription['id']}")
    assert modify_calls[-3]["items"] == [{"price": seats.stripe_price_month_id, "quantity": "2"}]
    assert modify_calls[-3]["proration_behavior"] == "create_prorations"
    assert after_buy["add_ons"] == [{"code": "extra_seats", "quantity": 2, "since": bought.json()["since"]}]
    assert after_buy["plan"] == "pro" and after_buy["seats"] == 1  # the plan item is found by its price, not its place
    assert changed.status_code == 200 and changed.json()["quantity"] == 4
    assert set(modify_calls[-2]["items"][0]) == {"id", "quantity"}  # the same item, a new quantity
    assert limit_with_four == 25 + 40
    assert removed.status_code == 204
    assert modify_calls[-1]["items"][0]["deleted"] == "true"
    assert [i["price"]["id"] for i in fake_stripe.get(subscription["id"])["items"]["data"]] == [synced_plans["pro"].stripe_price_month_id]
    assert holdings(organization) == {} and entitlements.limit_of(organization, "max_members") == 25
    actions = list(AuditEvent.objects.filter(organization_id=organization.id, action__startswith="subscription.add_on").values_list("action", flat=True))
    assert sorted(actions) == ["subscription.add_on_added", "subscription.add_on_changed", "subscription.add_on_removed"]
    added = AuditEvent.objects.get(action="subscription.add_on_added")
    assert added.changes == {"add_ons": [{}, {"extra_seats": 2}]}


def test_posting_the_same_quantity_again_changes_nothing(team, subscribe, fake_stripe):
    organization, members, clients = team
    owner = clients["owner"]
    subscription = subscribe(owner, plan="pro")
    owner.post(URL + "add-ons/extra_storage", {}, format="json")
    calls = len(fake_stripe.calls("POST", f"/v1/subscriptions/{subscription['id']}"))

    again = owner.post(URL + "add-ons/extra_storage", {"quantity": 1}, format="json")

    assert again.status_code == 200
    assert len(fake_stripe.calls("POST", f"/v1/subscriptions/{subscription['id']}")) == calls
    assert entitlements.limit_of(organization, "storage_mb") == 20_480 + 10_240


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("add-ons/platinum", {}, 404, None),
        ("add-ons/extra_seats", {"quantity": 0}, 400, "quantity"),
        ("add-ons/extra_seats", {"quantity": 101}, 400, "quantity"),
        ("add-ons/extra_seats", {"quantity": 1, "price": 1}, 400, "price"),
    ],
)
def test_add_on_input_is_checked(team, subscribe, path, body, status, field):
    organization, members, clients = team
    subscribe(clients["owner"], plan="pro")

    response = clients["owner"].post(URL + path, body, format="json")

    assert response.status_code == status
    if field:
        assert field in response.json()["error"]["details"]


def test_removing_an_add_on_not_held_is_a_404(team, subscribe):
    organization, members, clients = team
    subscribe(clients["owner"], plan="pro")

    response = clients["owner"].delete(URL + "add-ons/extra_seats")

    assert response.status_code == 404 and code_of(response) == "NOT_FOUND"


def test_unsynced_add_ons_cannot_be_bought(team, subscribe):
    organization, members, clients = team
    subscribe(clients["owner"], plan="pro")
    AddOn.objects.filter(code="extra_seats").update(stripe_price_month_id="", stripe_price_year_id="")

    response = clients["owner"].post(URL + "add-ons/extra_seats", {}, format="json")

    assert response.status_code == 503 and code_of(response) == "SERVICE_UNAVAILABLE"


# --- who may -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_only_billing_managers_buy_or_remove_add_ons(team, subscribe, role):
    organization, members, clients = team
    subscribe(clients["owner"], plan="pro")
    clients["owner"].post(URL + "add-ons/extra_seats", {}, format="json")

    bought = clients[role].post(URL + "add-ons/white_label", {}, format="json")
    removed = clients[role].delete(URL + "add-ons/extra_seats")

    assert bought.status_code == removed.status_code == 403
    assert code_of(bought) == code_of(removed) == "INSUFFICIENT_PERMISSIONS"
    assert holdings(organization) == {"extra_seats": 1}


def test_another_orgs_owner_cannot_touch_this_orgs_add_ons(team, org_factory):
    # given: org A holds an add-on; B's owner is a member of A with no billing rights... or not at all
    organization, members, clients = team
    put_on(organization, "pro")
    clients["owner"].post(URL + "add-ons/extra_seats", {}, format="json")
    other, other_members = org_factory(roles=("owner",))
    put_on(other, "pro")
    from conftest import client_for

    stranger = client_for(other_members["owner"].user, other)

    # when: naming A in the header, or acting in B's own context
    via_header = stranger.delete(URL + "add-ons/extra_seats", HTTP_X_ORG_ID=str(organization.id))
    own_context = stranger.delete(URL + "add-ons/extra_seats")

    # then
    assert via_header.status_code == 403 and code_of(via_header) == "INVALID_ORG_CONTEXT"
    assert own_context.status_code == 404  # B holds none; A's holding is not reachable from B
    assert holdings(organization) == {"extra_seats": 1}


def test_an_api_key_without_billing_manage_cannot_buy(team):
    organization, members, clients = team
    put_on(organization, "pro")
    owner = Membership.objects.get(organization=organization, role="owner").user
    _, secret = apikeys.api_key_create(
        organization=organization, name="ci", grantable=authz.codes(), scopes=["billing:read"], created_by=owner, actor=Actor.system()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    response = client.post(URL + "add-ons/extra_seats", {}, format="json")

    assert response.status_code == 403
    assert holdings(organization) == {}


def test_an_impersonation_token_cannot_buy_or_remove_add_ons(team):
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.sessions import session_create
    from accounts.staff import impersonation_start
    from accounts.tests.factories import UserFactory
    from core.actor import Principal

    # given: staff with MFA impersonate the owner of a pro org holding an add-on
    organization, members, clients = team
    put_on(organization, "pro")
    clients["owner"].post(URL + "add-ons/extra_seats", {}, format="json")
    staff = UserFactory(is_staff=True)
    staff_token = session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True).access_token
    _, pair = impersonation_start(
        actor=Actor(principal=Principal.from_claims(staff, AccessToken(staff_token).payload)), user_id=members["owner"].user_id, reason="ticket 7"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")

    # when
    bought = client.post(URL + "add-ons/white_label", {}, format="json")
    removed = client.delete(URL + "add-ons/extra_seats")
    renew = client.put(URL + "subscription/auto-renew", {"enabled": False}, format="json")

    # then: billing changes are not on the impersonation allow-list
    assert bought.status_code == removed.status_code == renew.status_code == 403
    assert holdings(organization) == {"extra_seats": 1}


# --- manual subscriptions --------------------------------------------------------------------------------------


def test_manual_subscriptions_hold_add_ons_locally_audited(team, fake_stripe):
    organization, members, clients = team
    put_on(organization, "pro")

    bought = clients["owner"].post(URL + "add-ons/extra_seats", {"quantity": 3}, format="json")
    removed = clients["owner"].delete(URL + "add-ons/extra_seats")

    assert bought.status_code == 201 and removed.status_code == 204
    assert fake_stripe.requests == []  # billed outside Stripe: nothing asked of it
    events = AuditEvent.objects.filter(organization_id=organization.id, action__startswith="subscription.").order_by("created_at")
    assert list(events.values_list("action", flat=True)) == [
        "subscription.add_on_added",
        "subscription.add_on_removed",
    ]


# --- entitlements = plan + add-ons ----------------------------------------------------------------------------


def test_extra_seats_let_an_invite_that_was_refused_through(team):
    # given: a pro org whose plan allows 4 members, and 4 members
    organization, members, clients = team
    owner = clients["owner"]
    put_on(organization, "pro")
    Plan.objects.filter(code="pro").update(max_members=4)
    refused = invite(owner, organization, "fifth@example.com")

    # when
    owner.post(URL + "add-ons/extra_seats", {}, format="json")
    allowed = invite(owner, organization, "fifth@example.com")

    # then
    assert refused.status_code == 402 and code_of(refused) == "PLAN_LIMIT_REACHED"
    assert allowed.status_code == 201, allowed.content
    assert owner.get(URL + "usage").json()["members"] == {"used": 5, "limit": 14}
    assert owner.post(URL + "usage/check-limit", {"feature": "members"}, format="json").json() == {"allowed": True, "used": 5, "limit": 14}


def test_a_feature_add_on_turns_its_flag_on_for_the_gates_and_the_token(team):
    organization, members, clients = team
    owner = clients["owner"]
    put_on(organization, "pro")
    before = hooks.plan_claims(organization=organization)  # cached now

    owner.post(URL + "add-ons/white_label", {}, format="json")

    assert before["features"]["white_label"] is False
    assert entitlements.has_feature(organization, "white_label") is True
    entitlements.require_feature(organization, "white_label")  # no 402
    assert hooks.plan_claims(organization=organization)["features"]["white_label"] is True  # the cache was dropped
    owner.delete(URL + "add-ons/white_label")
    assert hooks.plan_claims(organization=organization)["features"]["white_label"] is False


def test_add_ons_stop_counting_when_the_subscription_lapses(team):
    organization, members, clients = team
    account = put_on(organization, "pro")
    clients["owner"].post(URL + "add-ons/extra_storage", {"quantity": 2}, format="json")

    account.active_until = datetime(2000, 1, 1, tzinfo=UTC)
    account.save()

    assert entitlements.limit_of(organization, "storage_mb") == 500  # free's, no add-on on top
    assert clients["owner"].get(URL + "subscription").json()["add_ons"] == []


def test_unlimited_stays_unlimited():
    plan = Plan.objects.get(code="team")
    seats = SubscriptionAddOn(add_on=AddOn.objects.get(code="extra_seats"), quantity=3)

    assert selectors.Entitlements(plan=plan, add_ons=(seats,)).limit("max_members") is None


def test_entitlements_cost_the_same_queries_whatever_the_add_ons(team, django_assert_num_queries):
    organization, members, clients = team
    put_on(organization, "pro")
    with django_assert_num_queries(2):
        selectors.entitlements_of(organization=organization)
    for code in ("extra_seats", "extra_storage", "white_label"):
        clients["owner"].post(URL + "add-ons/" + code, {"quantity": 2}, format="json")

    with django_assert_num_queries(2):
        entitled = selectors.entitlements_of(organization=organization)

    assert entitled.limits["max_members"] == 45 and entitled.features["white_label"] is True


# --- webhooks keep the holdings in step with Stripe -----------------------------------------------------------------


def test_subscription_updated_with_add_on_items_keeps_holdings_in_step(team, subscribe, fake_stripe, deliver, synced_plans):
    organization, members, clients = team
    subscription = subscribe(clients["owner"], plan="pro")
    seats, storage = AddOn.objects.get(code="extra_seats"), AddOn.objects.get(code="extra_storage")
    plan_item = fake_stripe.get(subscription["id"])["items"]["data"][0]

    # when: the portal adds two add-ons at Stripe, the add-on item first (order means nothing)
    items = [
        {**plan_item, "id": "si_seats", "price": fake_stripe.get(seats.stripe_price_month_id), "quantity": 3},
        plan_item,
        {**plan_item, "id": "si_storage", "price": fake_stripe.get(storage.stripe_price_month_id), "quantity": 1},
    ]
    added = fake_stripe.subscription_update(subscription["id"], items={"object": "list", "data": items, "has_more": False, "url": "/v1/subscription_items"})
    deliver(fake_stripe.event("customer.subscription.updated", added, created=subscription["created"] + 10))
    after_add = holdings(organization)
    # then the seats add-on is removed there
    removed = fake_stripe.subscription_update(
        subscription["id"], items={"object": "list", "data": items[1:], "has_more": False, "url": "/v1/subscription_items"}
    )
    deliver(fake_stripe.event("customer.subscription.updated", removed, created=subscription["created"] + 20))

    account = Subscription.objects.get(organization=organization)
    assert after_add == {"extra_seats": 3, "extra_storage": 1}
    assert holdings(organization) == {"extra_storage": 1}
    assert account.plan.code == "pro" and account.seats == 1
    assert SubscriptionAddOn.objects.get(organization=organization).stripe_subscription_item_id == "si_storage"


def test_a_cancelled_subscription_ends_its_add_ons(team, subscribe, fake_stripe):
    organization, members, clients = team
    owner = clients["owner"]
    subscribe(owner, plan="pro")
    owner.post(URL + "add-ons/extra_seats", {}, format="json")

    owner.post(URL + "subscription/cancel", {"immediately": True}, format="json")

    assert holdings(organization) == {} and entitlements.limit_of(organization, "max_members") == 5


def test_changing_interval_moves_add_ons_to_the_new_interval_price(team, subscribe, fake_stripe, synced_plans):
    organization, members, clients = team
    owner = clients["owner"]
    subscription = subscribe(owner, plan="pro")
    owner.post(URL + "add-ons/extra_seats", {"quantity": 2}, format="json")

    response = owner.post(URL + "subscription/change-plan", {"plan": "pro", "interval": "year"}, format="json")

    assert response.status_code == 200, response.content
    prices = {i["price"]["id"]: i["quantity"] for i in fake_stripe.get(subscription["id"])["items"]["data"]}
    seats = AddOn.objects.get(code="extra_seats")
    assert prices == {synced_plans["pro"].stripe_price_year_id: 1, seats.stripe_price_year_id: 2}
    assert response.json()["interval"] == "year" and response.json()["add_ons"][0]["quantity"] == 2


# --- change-plan from free, auto-renew -------------------------------------------------------------------------------


def test_change_plan_from_free_answers_a_checkout(team, synced_plans, fake_stripe):
    organization, members, clients = team

    response = clients["owner"].post(URL + "subscription/change-plan", {"plan": "team", "interval": "year"}, format="json")
    bad_return = clients["owner"].post(URL + "subscription/change-plan", {"plan": "team", "success_url": "https://evil.example.com/"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["checkout_url"].startswith("https://checkout.stripe.test/")
    session = fake_stripe.calls("POST", "/v1/checkout/sessions")[0]
    assert session["line_items"][0]["price"] == synced_plans["team"].stripe_price_year_id
    assert session["success_url"].startswith("https://app.example.test/")
    assert bad_return.status_code == 400 and "success_url" in bad_return.json()["error"]["details"]


def test_change_plan_of_a_manual_subscription_is_still_a_conflict(team, synced_plans):
    organization, members, clients = team
    put_on(organization, "pro")

    response = clients["owner"].post(URL + "subscription/change-plan", {"plan": "team"}, format="json")

    assert response.status_code == 409


def test_auto_renew_off_and_on_on_stripe(team, subscribe, fake_stripe):
    organization, members, clients = team
    owner = clients["owner"]
    subscription = subscribe(owner)

    off = owner.put(URL + "subscription/auto-renew", {"enabled": False}, format="json")
    off_again = owner.put(URL + "subscription/auto-renew", {"enabled": False}, format="json")
    on = owner.put(URL + "subscription/auto-renew", {"enabled": True}, format="json")

    assert off.status_code == off_again.status_code == on.status_code == 200
    assert off.json()["cancel_at_period_end"] is True and off_again.json()["cancel_at_period_end"] is True
    assert on.json()["cancel_at_period_end"] is False and fake_stripe.get(subscription["id"])["cancel_at_period_end"] is False
    assert [c.get("cancel_at_period_end") for c in fake_stripe.calls("POST", f"/v1/subscriptions/{subscription['id']}")] == ["true", "false"]


def test_auto_renew_on_a_manual_subscription_and_guards(team):
    organization, members, clients = team
    owner = clients["owner"]

    on_free = owner.put(URL + "subscription/auto-renew", {"enabled": False}, format="json")
    put_on(organization, "pro")
    off = owner.put(URL + "subscription/auto-renew", {"enabled": False}, format="json")
    missing = owner.put(URL + "subscription/auto-renew", {}, format="json")
    by_admin = clients["admin"].put(URL + "subscription/auto-renew", {"enabled": True}, format="json")
    on = owner.put(URL + "subscription/auto-renew", {"enabled": True}, format="json")

    assert on_free.status_code == 409
    assert off.status_code == 200 and off.json()["cancel_at_period_end"] is True
    assert missing.status_code == 400 and "enabled" in missing.json()["error"]["details"]
    assert by_admin.status_code == 403
    assert on.json()["cancel_at_period_end"] is False
