"""Invoices, payments (refunds) and payment methods: dj-stripe's synced rows, scoped to the org."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djstripe import models as dj

from audit.models import AuditEvent
from billing.tests.conftest import ROLES, code_of
from conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/"


@pytest.fixture
def billed(team, subscribe, fake_stripe, deliver):
    """A subscribed org with paid invoices and payments synced through webhooks."""
    organization, members, clients = team
    subscription = subscribe(clients["owner"])
    t = subscription["created"]
    for offset in (1, 2, 3):
        invoice = fake_stripe.invoice_create(subscription_id=subscription["id"], paid=True)
        charge = fake_stripe.get(sorted(k for k, o in fake_stripe.objects.items() if o.get("object") == "charge")[-1])
        deliver(
            fake_stripe.event("invoice.paid", invoice, created=t + offset),
            fake_stripe.event("charge.succeeded", charge, created=t + offset),
        )
    return organization, members, clients, subscription


@pytest.fixture
def other_billed(org_factory, subscribe):
    """A second subscribed org, with its own invoices, payments and a payment method."""
    organization, members = org_factory(roles=("owner",))
    owner = client_for(members["owner"].user, organization)
    subscribe(owner)
    return organization, owner


def test_invoices_list_newest_first_paginated_and_detail(billed):
    organization, members, clients, subscription = billed

    page = clients["admin"].get(URL + "invoices", {"limit": 2}).json()
    invoice_id = page["data"][0]["id"]
    detail = clients["admin"].get(URL + f"invoices/{invoice_id}").json()

    assert page["total"] == dj.Invoice.objects.count() and page["limit"] == 2 and page["total_pages"] == 2
    assert [i["created"] for i in page["data"]] == sorted((i["created"] for i in page["data"]), reverse=True)
    assert detail["id"] == invoice_id and detail["status"] == "paid" and detail["amount_paid"] == 2900
    assert detail["currency"] == "usd" and detail["hosted_invoice_url"].startswith("https://invoice.stripe.test/")
    assert detail["period_end"].endswith("Z")


def test_payments_list_and_detail(billed):
    organization, members, clients, subscription = billed

    page = clients["admin"].get(URL + "payments").json()
    detail = clients["admin"].get(URL + f"payments/{page['data'][0]['id']}").json()

    assert page["total"] == dj.Charge.objects.count() >= 3
    assert detail["amount"] == 2900 and detail["status"] == "succeeded" and detail["amount_refunded"] == 0
    assert detail["card_brand"] == "visa" and detail["card_last4"] == "4242"


@pytest.mark.parametrize("path", ["invoices", "payments"])
def test_list_endpoints_run_a_constant_number_of_queries(billed, fake_stripe, deliver, path):
    organization, members, clients, subscription = billed
    client = clients["owner"]
    client.get(URL + path)  # warm caches (permissions)

    with CaptureQueriesContext(connection) as few:
        assert client.get(URL + path).status_code == 200
    for offset in range(4, 9):
        invoice = fake_stripe.invoice_create(subscription_id=subscription["id"], paid=True)
        charge = fake_stripe.get(sorted(k for k, o in fake_stripe.objects.items() if o.get("object") == "charge")[-1])
        deliver(
            fake_stripe.event("invoice.paid", invoice, created=subscription["created"] + offset),
            fake_stripe.event("charge.succeeded", charge, created=subscription["created"] + offset),
        )
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(URL + path).json()["data"]) >= 8

    assert len(many.captured_queries) == len(few.captured_queries)


def test_payment_methods_list_runs_a_constant_number_of_queries(billed, fake_stripe):
    organization, members, clients, subscription = billed
    owner = clients["owner"]
    owner.post(URL + "payment-methods", {"payment_method_id": fake_stripe.payment_method_create()["id"]}, format="json")
    owner.get(URL + "payment-methods")

    with CaptureQueriesContext(connection) as few:
        owner.get(URL + "payment-methods")
    for _ in range(3):
        owner.post(URL + "payment-methods", {"payment_method_id": fake_stripe.payment_method_create()["id"]}, format="json")
    with CaptureQueriesContext(connection) as many:
        assert len(owner.get(URL + "payment-methods").json()["data"]) == 4

    assert len(many.captured_queries) == len(few.captured_queries)


def test_another_orgs_records_are_404(billed, other_billed, fake_stripe, deliver):
    organization, members, clients, subscription = billed
    other, other_owner = other_billed
    pm = fake_stripe.payment_method_create()
    assert other_owner.post(URL + "payment-methods", {"payment_method_id": pm["id"]}, format="json").status_code == 201
    their_customer = fake_stripe.get(pm["id"])["customer"]
    theirs_charge = fake_stripe.charge_create(customer=their_customer, amount=500)
    theirs_invoice = next(o for o in fake_stripe.objects.values() if o["object"] == "invoice" and o["customer"] == their_customer)
    deliver(fake_stripe.event("charge.succeeded", theirs_charge), fake_stripe.event("invoice.paid", theirs_invoice))
    assert dj.Charge.objects.filter(id=theirs_charge["id"]).exists() and dj.Invoice.objects.filter(id=theirs_invoice["id"]).exists()
    theirs_invoice = theirs_invoice["id"]
    owner = clients["owner"]

    responses = {
        "invoice": owner.get(URL + f"invoices/{theirs_invoice}"),
        "payment": owner.get(URL + f"payments/{theirs_charge['id']}"),
        "refund": owner.post(URL + f"payments/{theirs_charge['id']}/refund", {}, format="json"),
        "pm delete": owner.delete(URL + f"payment-methods/{pm['id']}"),
        "pm default": owner.post(URL + f"payment-methods/{pm['id']}/set-default"),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    assert all(code_of(r) == "NOT_FOUND" for r in responses.values())
    assert theirs_invoice not in [i["id"] for i in owner.get(URL + "invoices", {"limit": 100}).json()["data"]]
    assert pm["id"] not in [m["id"] for m in owner.get(URL + "payment-methods").json()["data"]]
    assert fake_stripe.get(pm["id"])["customer"] is not None  # nothing happened at Stripe
    assert fake_stripe.get(theirs_charge["id"])["amount_refunded"] == 0
    # The same ids through X-Org-ID of org B: the caller is not a member there.
    assert owner.get(URL + f"invoices/{theirs_invoice}", HTTP_X_ORG_ID=str(other.id)).status_code == 403


# --- refunds -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [r for r in ROLES if r != "owner"])
def test_only_the_owner_may_refund(billed, role):
    organization, members, clients, subscription = billed
    payment = clients["owner"].get(URL + "payments").json()["data"][0]["id"]

    response = clients[role].post(URL + f"payments/{payment}/refund", {}, format="json")

    assert response.status_code == 403


def test_owner_refunds_part_then_the_rest(billed, fake_stripe):
    organization, members, clients, subscription = billed
    owner = clients["owner"]
    payment = owner.get(URL + "payments").json()["data"][0]["id"]

    partial = owner.post(URL + f"payments/{payment}/refund", {"amount": 900, "reason": "requested_by_customer"}, format="json")
    too_much = owner.post(URL + f"payments/{payment}/refund", {"amount": 5000}, format="json")
    rest = owner.post(URL + f"payments/{payment}/refund", {}, format="json")
    nothing_left = owner.post(URL + f"payments/{payment}/refund", {}, format="json")

    assert partial.status_code == 200 and partial.json()["amount_refunded"] == 900
    assert too_much.status_code == 400
    assert rest.status_code == 200 and rest.json()["amount_refunded"] == 2900 and rest.json()["refunded"] is True
    assert nothing_left.status_code == 409
    assert [r["amount"] for r in fake_stripe.calls("POST", "/v1/refunds")] == ["900", "2000"]
    events = AuditEvent.objects.filter(action="payment.refunded", target_id=payment).order_by("sequence")
    assert [e.changes["amount_refunded"] for e in events] == [[0, 900], [900, 2900]]
    assert dj.Refund.objects.filter(charge_id=payment).count() == 2


# --- payment methods ------------------------------------------------------------------------------------------


def test_attach_set_default_and_detach_payment_methods(team, synced_plans, fake_stripe):
    organization, members, clients = team
    owner = clients["owner"]
    visa = fake_stripe.payment_method_create(brand="visa", last4="4242")
    amex = fake_stripe.payment_method_create(brand="amex", last4="0005")

    first = owner.post(URL + "payment-methods", {"payment_method_id": visa["id"]}, format="json")
    second = owner.post(URL + "payment-methods", {"payment_method_id": amex["id"]}, format="json")
    listed = {m["id"]: m["is_default"] for m in clients["admin"].get(URL + "payment-methods").json()["data"]}
    made_default = owner.post(URL + f"payment-methods/{amex['id']}/set-default")
    removed = owner.delete(URL + f"payment-methods/{amex['id']}")
    after = owner.get(URL + "payment-methods").json()["data"]

    assert first.status_code == 201 and first.json()["is_default"] is True and first.json()["brand"] == "visa"
    assert second.status_code == 201 and second.json()["is_default"] is False
    assert listed == {visa["id"]: True, amex["id"]: False}
    assert made_default.status_code == 200 and made_default.json()["is_default"] is True
    assert removed.status_code == 204
    assert [(m["id"], m["is_default"]) for m in after] == [(visa["id"], False)]
    assert fake_stripe.get(amex["id"])["customer"] is None
    actions = set(AuditEvent.objects.filter(organization_id=organization.id).values_list("action", flat=True))
    assert {"payment_method.attached", "payment_method.default_changed", "payment_method.detached"} <= actions


def test_attaching_is_managers_only_and_validates_the_id(team, synced_plans, fake_stripe):
    organization, members, clients = team

    by_admin = clients["admin"].post(URL + "payment-methods", {"payment_method_id": "pm_123"}, format="json")
    garbled = clients["owner"].post(URL + "payment-methods", {"payment_method_id": "card_123"}, format="json")
    unknown = clients["owner"].post(URL + "payment-methods", {"payment_method_id": "pm_doesnotexist"}, format="json")

    assert by_admin.status_code == 403
    assert garbled.status_code == 400
    assert unknown.status_code == 400 and code_of(unknown) == "VALIDATION_ERROR"
