"""Staff admin: plans are editable; subscriptions and webhook events are read-only."""

import pytest

from billing.models import Plan, Subscription
from core import entitlements

pytestmark = pytest.mark.django_db


def plan_form(plan: Plan, **changes) -> dict:
    fields = [
        "code",
        "name",
        "description",
        "sort_order",
        "currency",
        "price_month",
        "price_year",
        "max_members",
        "max_api_keys",
        "max_integrations",
        "audit_retention_days",
        "storage_mb",
        "ai_requests_per_month",
    ]
    data = {name: "" if getattr(plan, name) is None else getattr(plan, name) for name in fields}
    for flag in ("is_active", "per_seat", "custom_slug", "sso", "advanced_analytics", "white_label"):
        if getattr(plan, flag):
            data[flag] = "on"
    data.update(changes)
    return data


def test_staff_edit_a_plans_entitlements_and_they_apply(admin_client_otp, org_factory):
    organization, _ = org_factory()
    free = Plan.objects.get(code="free")

    response = admin_client_otp.post(f"/admin/billing/plan/{free.id}/change/", plan_form(free, max_members=8, custom_slug="on"))

    assert response.status_code == 302, response.content[:2000]
    assert entitlements.limit_of(organization, "max_members") == 8
    assert entitlements.has_feature(organization, "custom_slug") is True


def test_subscriptions_and_webhook_events_are_read_only(admin_client_otp, org_factory):
    organization, _ = org_factory()
    account = Subscription.objects.create(organization=organization, plan=Plan.objects.get(code="free"))

    for url in (
        "/admin/billing/subscription/",
        f"/admin/billing/subscription/{account.id}/change/",
        "/admin/billing/webhookevent/",
        "/admin/billing/plan/",
        "/admin/billing/usagecounter/",
    ):
        assert admin_client_otp.get(url).status_code == 200, url
    detail = admin_client_otp.get(f"/admin/billing/subscription/{account.id}/change/")
    assert b'name="_save"' not in detail.content
    assert admin_client_otp.get("/admin/billing/subscription/add/").status_code == 403
    assert admin_client_otp.get(f"/admin/billing/plan/{account.plan_id}/delete/").status_code == 403
