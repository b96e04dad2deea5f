"""The manual provider: staff activation, expiry by the beat task, cancel, and its guards."""

from datetime import timedelta

import pytest
from django.conf import settings
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.sessions import session_create
from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from billing import selectors, tasks
from billing.models import Subscription
from billing.tests.conftest import code_of
from core import clock, entitlements
from core.actor import Actor

pytestmark = pytest.mark.django_db

ACTIVATE = "/api/v1/billing/subscriptions/activate"


def staff_mfa_client(user) -> APIClient:
    """A staff member's client whose session passed MFA (activation is a staff power: invariant 8)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_create(user=user, actor=Actor.for_user(user), mfa_verified=True).access_token}")
    return client


@pytest.fixture
def staff():
    return staff_mfa_client(UserFactory(is_staff=True))


def activate(client, organization, **overrides):
    body = {"organization_id": str(organization.id), "plan": "team", "provider": "manual", "months": 3, **overrides}
    return client.post(ACTIVATE, body, format="json")


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_only_staff_may_activate(team, role):
    organization, members, clients = team

    response = activate(clients[role], organization)

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert not Subscription.objects.filter(organization=organization).exists()


def test_anonymous_callers_are_401(api_client, team):
    organization, members, clients = team

    assert activate(api_client, organization).status_code == 401


def test_staff_activates_a_manual_subscription_and_the_org_gets_the_plan(team):
    organization, members, clients = team

    with freeze_time("2026-01-31 10:00:00"):
        response = activate(staff_mfa_client(UserFactory(is_staff=True)), organization, months=1)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["provider"] == "manual" and body["active_until"] == "2026-02-28T10:00:00.000000Z"
    account = Subscription.objects.get(organization=organization)
    assert str(account.id) == body["subscription_id"]
    state = clients["owner"].get("/api/v1/billing/subscription").json()
    assert state["provider"] == "manual" and state["active_until"] == body["active_until"]
    event = AuditEvent.objects.get(action="subscription.activated")
    assert event.organization_id == organization.id and event.changes["plan"] == ["free", "team"]


def test_activating_again_extends_a_running_term(team, staff):
    organization, members, clients = team
    first = activate(staff, organization, months=2).json()["active_until"]

    second = activate(staff, organization, months=1).json()["active_until"]

    assert second > first
    account = Subscription.objects.get(organization=organization)
    assert account.active_until.month == (clock.now().month + 3 - 1) % 12 + 1


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"provider": "stripe"}, 400),
        ({"plan": "free"}, 400),
        ({"plan": "gold"}, 400),
        ({"months": 0}, 400),
        ({"months": 37}, 400),
    ],
)
def test_activation_validates(team, staff, overrides, status):
    organization, members, clients = team

    assert activate(staff, organization, **overrides).status_code == status


def test_unknown_organization_is_404(staff, db):
    class Missing:
        id = "6f1c9e0d-4b7a-4c8e-9f3a-1d9b0c7e4f2a"

    response = activate(staff, Missing)

    assert response.status_code == 404 and code_of(response) == "ORG_NOT_FOUND"


def test_an_org_paying_through_stripe_cannot_also_be_billed_manually(team, staff, subscribe):
    organization, members, clients = team
    subscribe(clients["owner"])

    response = activate(staff, organization)

    assert response.status_code == 409


def test_the_beat_task_downgrades_expired_manual_subscriptions(team, staff):
    organization, members, clients = team
    activate(staff, organization, months=1)
    assert entitlements.has_feature(organization, "sso") is True
    later = Subscription.objects.get(organization=organization).active_until + timedelta(minutes=1)

    with freeze_time(later):
        # Entitlements end at active_until even before the task runs.
        assert entitlements.has_feature(organization, "sso") is False
        assert selectors.subscription_state(organization=organization)["status"] == "expired"
        assert tasks.expire_manual_subscriptions.delay().get() == 1
        assert tasks.expire_manual_subscriptions.delay().get() == 0

    account = Subscription.objects.get(organization=organization)
    assert account.plan.code == "free" and account.status == "expired"
    assert AuditEvent.objects.filter(action="subscription.expired", organization_id=organization.id).count() == 1
    schedule = settings.CELERY_BEAT_SCHEDULE["billing-expire-manual-subscriptions"]
    assert schedule["task"] == "billing.tasks.expire_manual_subscriptions"


def test_manual_cancel_at_period_end_reactivate_and_cancel_now(team, staff):
    organization, members, clients = team
    owner = clients["owner"]
    activate(staff, organization)

    pending = owner.post("/api/v1/billing/subscription/cancel", {}, format="json").json()
    undone = owner.post("/api/v1/billing/subscription/reactivate").json()
    now = owner.post("/api/v1/billing/subscription/cancel", {"immediately": True}, format="json").json()

    assert pending["cancel_at_period_end"] is True and pending["plan"] == "team"
    assert undone["cancel_at_period_end"] is False
    assert now["plan"] == "free" and now["status"] == "canceled"


def test_manual_orgs_cannot_change_plan_through_stripe(team, staff, synced_plans):
    organization, members, clients = team
    activate(staff, organization)

    response = clients["owner"].post("/api/v1/billing/subscription/change-plan", {"plan": "pro"}, format="json")
    checkout = clients["owner"].post("/api/v1/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 409 and checkout.status_code == 409
