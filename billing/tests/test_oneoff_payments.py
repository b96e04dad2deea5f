"""One-off payments: create (Stripe Checkout in payment mode, Razorpay orders), settle once by webhook,
verify, list with the charges, refund; and who may do what."""

# The Razorpay fixtures are imported from billing.tests.razorpay_fake: test arguments share their names.
# ruff: noqa: F811

import pytest

from audit.models import AuditEvent
from billing.models import Payment, WebhookEvent
from billing.tests.conftest import code_of
from billing.tests.razorpay_fake import deliver_razorpay, fake_razorpay, razorpay_server  # noqa: F401 - fixtures
from conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/payments"
BODY = {
    "amount": 5000,
    "currency": "usd",
    "description": "Onboarding package",
    "success_url": "https://app.example.test/billing/paid",
    "cancel_url": "https://app.example.test/billing",
}


@pytest.fixture
def stripe_paid(team, fake_stripe, deliver):
    """A one-off Stripe payment the owner started and paid, settled by Stripe's webhook."""
    organization, members, clients = team
    created = clients["owner"].post(URL, BODY, format="json").json()
    payment = Payment.objects.get(id=created["id"])
    session = fake_stripe.checkout_pay(payment.stripe_checkout_session_id)
    deliver(fake_stripe.event("checkout.session.completed", session))
    return organization, clients, payment, session


# --- create -----------------------------------------------------------------------------------------------------


def test_owner_starts_a_stripe_payment_and_gets_a_checkout_url(team, fake_stripe):
    organization, members, clients = team

    response = clients["owner"].post(URL, BODY, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "status", "checkout_url"} and body["status"] == "pending"
    session = fake_stripe.get(Payment.objects.get(id=body["id"]).stripe_checkout_session_id)
    assert body["checkout_url"] == session["url"] and session["mode"] == "payment"
    assert session["metadata"] == {"organization_id": str(organization.id), "payment_id": body["id"]}
    assert AuditEvent.objects.filter(action="payment.created", target_id=body["id"]).count() == 1


def test_owner_starts_a_razorpay_payment_through_an_order(team, fake_razorpay):
    organization, members, clients = team

    response = clients["owner"].post(URL, {**BODY, "currency": "inr", "provider": "razorpay"}, format="json")

    assert response.status_code == 201, response.content
    payment = Payment.objects.get(id=response.json()["id"])
    order = fake_razorpay.get(payment.razorpay_order_id, "order")
    assert order["amount"] == 5000 and order["currency"] == "INR" and order["receipt"] == str(payment.id)
    assert order["notes"]["organization_id"] == str(organization.id)
    url = response.json()["checkout_url"]
    assert url.startswith(f"https://app.example.test/billing/pay/{payment.id}?") and f"order_id={order['id']}" in url and "key_id=rzp_test_" in url


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": 100_000_000}, "amount"),
        ({"currency": "dollars"}, "currency"),
        ({"currency": "u$"}, "currency"),
        ({"description": ""}, "description"),
        ({"provider": "paypal"}, "provider"),
        ({"success_url": "https://evil.example/steal"}, "success_url"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_amounts_currencies_and_fields_are_refused_with_400(team, fake_stripe, change, field):
    organization, members, clients = team

    response = clients["owner"].post(URL, {**BODY, **change}, format="json")

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]
    assert not Payment.objects.exists()


def test_an_amount_the_provider_refuses_is_a_400_not_a_500(team, fake_razorpay):
    organization, members, clients = team

    response = clients["owner"].post(URL, {**BODY, "amount": 50, "currency": "inr", "provider": "razorpay"}, format="json")

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert not Payment.objects.exists()


def test_razorpay_unconfigured_answers_503(team, fake_razorpay, settings):
    organization, members, clients = team
    settings.RAZORPAY_KEY_SECRET = ""

    response = clients["owner"].post(URL, {**BODY, "provider": "razorpay"}, format="json")

    assert response.status_code == 503 and code_of(response) == "SERVICE_UNAVAILABLE"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_only_billing_managers_start_payments(team, fake_stripe, role):
    organization, members, clients = team

    response = clients[role].post(URL, BODY, format="json")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"


# --- settle exactly once ------------------------------------------------------------------------------------------


def test_stripe_webhook_settles_the_payment_once(stripe_paid, fake_stripe, deliver):
    organization, clients, payment, session = stripe_paid
    event = fake_stripe.event("checkout.session.completed", session)

    deliver(event, event)  # a redelivery of a new event id about the same session, twice

    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.settled_at is not None and payment.stripe_charge_id
    assert AuditEvent.objects.filter(action="payment.succeeded", target_id=str(payment.id)).count() == 1
    assert WebhookEvent.objects.filter(type="checkout.session.completed").count() == 2


def test_an_expired_stripe_session_fails_the_payment_and_a_late_success_still_wins(team, fake_stripe, deliver):
    organization, members, clients = team
    created = clients["owner"].post(URL, BODY, format="json").json()
    payment = Payment.objects.get(id=created["id"])
    expired = {**fake_stripe.get(payment.stripe_checkout_session_id), "status": "expired"}
    paid = fake_stripe.checkout_pay(payment.stripe_checkout_session_id)

    deliver(fake_stripe.event("checkout.session.completed", paid, created=2_000_000_000))
    deliver(fake_stripe.event("checkout.session.expired", expired, created=1_900_000_000))

    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_verify_reads_the_provider_when_the_webhook_has_not_come(team, fake_stripe):
    organization, members, clients = team
    created = clients["owner"].post(URL, BODY, format="json").json()
    fake_stripe.checkout_pay(Payment.objects.get(id=created["id"]).stripe_checkout_session_id)

    response = clients["owner"].post(f"{URL}/{created['id']}/verify")

    assert response.status_code == 200
    assert response.json()["status"] == "succeeded" and response.json()["kind"] == "one_off"
    assert Payment.objects.get(id=created["id"]).stripe_charge_id


# --- list, detail, refund ---------------------------------------------------------------------------------------


def test_one_off_payments_are_listed_with_the_charges_once(stripe_paid, subscribe):
    organization, clients, payment, session = stripe_paid
    subscribe(clients["owner"])  # an invoice charge of its own

    page = clients["admin"].get(URL).json()
    detail = clients["admin"].get(f"{URL}/{payment.id}").json()

    kinds = sorted(item["kind"] for item in page["data"])
    assert page["total"] == len(page["data"]) and kinds.count("one_off") == 1
    # The one-off's own Stripe charge is not listed a second time as a charge.
    assert payment.stripe_charge_id not in [item["id"] for item in page["data"]]
    assert detail["id"] == str(payment.id) and detail["status"] == "succeeded" and detail["amount"] == 5000 and detail["provider"] == "stripe"


def test_the_payments_list_runs_a_bounded_number_of_queries(team, fake_stripe, fake_razorpay, django_assert_max_num_queries):
    organization, members, clients = team
    owner = clients["owner"]
    owner.post(URL, BODY, format="json")
    owner.get(URL)  # warm caches (permissions)
    for _ in range(6):
        owner.post(URL, {**BODY, "currency": "inr", "provider": "razorpay"}, format="json")

    # Membership/permission reads, then one count and one slice per side, whatever the page holds.
    with django_assert_max_num_queries(8):
        assert len(owner.get(URL, {"limit": 100}).json()["data"]) == 7


def test_owner_refunds_a_stripe_one_off_payment_in_part_then_in_full(stripe_paid, fake_stripe):
    organization, clients, payment, session = stripe_paid

    partial = clients["owner"].post(f"{URL}/{payment.id}/refund", {"amount": 1000}, format="json")
    rest = clients["owner"].post(f"{URL}/{payment.id}/refund", {}, format="json")
    again = clients["owner"].post(f"{URL}/{payment.id}/refund", {}, format="json")

    assert partial.status_code == 200 and partial.json()["amount_refunded"] == 1000 and partial.json()["status"] == "succeeded"
    assert rest.status_code == 200 and rest.json()["status"] == "refunded" and rest.json()["amount_refunded"] == 5000
    assert again.status_code == 409
    payment.refresh_from_db()
    assert fake_stripe.get(payment.stripe_charge_id)["amount_refunded"] == 5000


def test_a_pending_payment_cannot_be_refunded(team, fake_stripe):
    organization, members, clients = team
    created = clients["owner"].post(URL, BODY, format="json").json()

    response = clients["owner"].post(f"{URL}/{created['id']}/refund", {}, format="json")

    assert response.status_code == 409 and code_of(response) == "CONFLICT"


@pytest.mark.parametrize("role", ["admin", "member"])
def test_non_owners_cannot_refund_or_verify(stripe_paid, role):
    organization, clients, payment, session = stripe_paid

    refund = clients[role].post(f"{URL}/{payment.id}/refund", {}, format="json")
    verify = clients[role].post(f"{URL}/{payment.id}/verify")

    assert refund.status_code == 403 and verify.status_code == 403
    payment.refresh_from_db()
    assert payment.amount_refunded == 0


def test_another_org_cannot_see_verify_or_refund_the_payment(stripe_paid, org_factory, fake_stripe):
    organization, clients, payment, session = stripe_paid
    other, other_members = org_factory(roles=("owner",))
    stranger = client_for(other_members["owner"].user, other)

    responses = {
        "detail": stranger.get(f"{URL}/{payment.id}"),
        "verify": stranger.post(f"{URL}/{payment.id}/verify"),
        "refund": stranger.post(f"{URL}/{payment.id}/refund", {}, format="json"),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    payment.refresh_from_db()
    assert str(payment.id) not in [item["id"] for item in stranger.get(URL).json()["data"]]
    assert fake_stripe.get(payment.stripe_charge_id)["amount_refunded"] == 0


def test_verify_of_an_unknown_or_malformed_id_is_404(team, fake_stripe):
    organization, members, clients = team

    assert clients["owner"].post(f"{URL}/ch_123/verify").status_code == 404
    assert clients["owner"].post(f"{URL}/00000000-0000-0000-0000-000000000000/verify").status_code == 404


# --- payment methods ---------------------------------------------------------------------------------------------------


def test_get_one_payment_method(team, subscribe, fake_stripe, org_factory):
    organization, members, clients = team
    subscribe(clients["owner"])
    pm = fake_stripe.payment_method_create(brand="mastercard", last4="4444")
    clients["owner"].post("/api/v1/billing/payment-methods", {"payment_method_id": pm["id"]}, format="json")
    other, other_members = org_factory(roles=("owner",))

    mine = clients["admin"].get(f"/api/v1/billing/payment-methods/{pm['id']}")
    theirs = client_for(other_members["owner"].user, other).get(f"/api/v1/billing/payment-methods/{pm['id']}")

    assert mine.status_code == 200 and mine.json()["last4"] == "4444" and mine.json()["is_default"] is True
    assert theirs.status_code == 404
