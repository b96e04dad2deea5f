"""Every page of the staff admin opens: each changelist, each allowed add page, a change page per model with a row."""

import pytest
from django.contrib import admin
from django.urls import reverse

from billing.tests.conftest import deliver, fake_stripe, stripe_server, subscribe, synced_plans, team  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(team, subscribe, fake_stripe, deliver):  # noqa: F811
    """Rows in as many admin tables as possible: Stripe's through checkout and webhooks (a paid invoice), the tenants' directly."""
    organization, members, clients = team
    subscription = subscribe(clients["owner"])
    invoice = fake_stripe.invoice_create(subscription_id=subscription["id"], paid=True)
    charge = fake_stripe.get(sorted(k for k, o in fake_stripe.objects.items() if o.get("object") == "charge")[-1])
    deliver(
        fake_stripe.event("invoice.paid", invoice, created=subscription["created"] + 1),
        fake_stripe.event("charge.succeeded", charge, created=subscription["created"] + 1),
    )
    owner = members["owner"].user
    _tenant_rows(organization, owner, members["member"].user)
    return organization


def _tenant_rows(organization, owner, member) -> None:
    """One row in each tenant table the staff panel lists."""
    from datetime import timedelta

    from core import clock
    from documents.models import Document
    from organizations.models import Domain, Invite, Team, TeamMembership
    from permissions.models import ApiKey, Policy, Role, RoleAssignment

    later = clock.now() + timedelta(days=7)
    ApiKey.objects.create(organization=organization, name="ci", prefix="sk_live_abcd1234", secret_hash="f" * 64, created_by=owner)
    Invite.objects.create(organization=organization, email="new@example.com", role="member", code_hash="e" * 64, expires_at=later, invited_by=owner)
    core_team = Team.objects.create(organization=organization, name="Core")
    TeamMembership.objects.create(team=core_team, user=member)
    Domain.objects.create(organization=organization, domain="example.org", verification_token="t" * 32)
    role = Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["audit:read"])
    RoleAssignment.objects.create(organization=organization, user=member, role=role, assigned_by=owner)
    Policy.objects.create(organization=organization, name="No keys", effect="deny", permissions=["api_keys:manage"], subjects={"roles": ["member"]})
    Document.objects.create(organization=organization, title="Q1", filename="q1.pdf", content_type="application/pdf", size=2048, file="documents/x/q1")


def _url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def test_every_admin_page_opens(admin_client_otp, rows):
    # given: every registered model admin and a superuser whose session passed MFA
    failures = []
    opened = []
    for model, model_admin in admin.site._registry.items():
        pages = [_url(model, "changelist")]
        if model_admin.has_add_permission(_request_of(admin_client_otp)):
            pages.append(_url(model, "add"))
        row = model_admin.get_queryset(_request_of(admin_client_otp)).first()
        if row is not None:
            pages.append(_url(model, "change", row.pk))
        # when
        for page in pages:
            status = admin_client_otp.get(page).status_code
            opened.append(page)
            if status != 200:
                failures.append((page, status))
    # then
    assert failures == []
    assert any(page.startswith("/admin/djstripe/invoice/") and page.endswith("/change/") for page in opened)  # the 500 of `paid`


def _request_of(client):
    """A request of the signed-in superuser, to ask the model admins what they allow."""
    from django.test import RequestFactory

    from accounts.models import User

    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(pk=client.session["_auth_user_id"])
    return request
