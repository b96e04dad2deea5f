"""GET /api/v1/premium/analytics: plan flag `advanced_analytics`, `audit:read`, the org's own figures in constant queries."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time
from rest_framework.test import APIClient

from ai.models import Conversation, Message
from audit.models import AuditEvent
from audit.services import event_record
from conftest import client_for
from core import authz, clock
from core.actor import Actor
from documents.models import Document
from integrations.models import Integration
from organizations.models import Invite, Membership
from organizations.tests.factories import MembershipFactory
from permissions import apikeys
from permissions.models import ApiKey
from premium.tests.conftest import code_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/premium/analytics"


def _audit(organization, *, at: datetime, count: int = 1) -> None:
    with freeze_time(at):
        for n in range(count):
            event_record(action="doc.edited", actor=Actor.system(), organization_id=organization.id, target_type="doc", target_id=str(n))


def _api_key(organization, **fields) -> ApiKey:
    return ApiKey.objects.create(organization=organization, name="k", prefix=f"sk_{uuid.uuid4().hex[:16]}", secret_hash="0" * 64, scopes=[], **fields)


def _invite(organization, *, created_at: datetime, status: str = Invite.Status.PENDING, responded_at: datetime | None = None) -> Invite:
    return Invite.objects.create(
        organization=organization,
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        role="member",
        code_hash=uuid.uuid4().hex,
        status=status,
        created_at=created_at,
        expires_at=created_at + timedelta(days=7),
        responded_at=responded_at,
    )


def _prompt(organization, user, *, at: datetime, role: str = Message.Role.USER) -> None:
    conversation = Conversation.objects.create(organization=organization, user=user, title="t", model="fake-model")
    Message.objects.create(conversation=conversation, role=role, content="hi", created_at=at)


def _document(organization, *, size: int) -> None:
    Document.objects.create(
        organization=organization, title="d", filename="d.txt", content_type="text/plain", size=size, file=f"documents/{uuid.uuid4().hex}.txt"
    )


def _window_start(days: int = 30) -> datetime:
    return (clock.now() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _seed(organization, owner, *, scale: int = 1) -> None:
    """Rows in and out of the 30-day window ending now; `scale` multiplies them."""
    inside, outside = clock.now() - timedelta(days=3), clock.now() - timedelta(days=45)
    for _ in range(scale):
        MembershipFactory(organization=organization, joined_at=inside)
        MembershipFactory(organization=organization, joined_at=outside, status=Membership.Status.SUSPENDED)
        _invite(organization, created_at=inside)
        _invite(organization, created_at=inside, status=Invite.Status.ACCEPTED, responded_at=inside + timedelta(hours=1))
        _invite(organization, created_at=outside, status=Invite.Status.ACCEPTED, responded_at=outside)
        _api_key(organization)
        _api_key(organization, revoked_at=inside)
        _api_key(organization, expires_at=clock.now() - timedelta(days=1))
        _prompt(organization, owner, at=inside)
        _prompt(organization, owner, at=inside, role=Message.Role.ASSISTANT)
        _prompt(organization, owner, at=outside)
        _document(organization, size=1024 * 1024)
        Integration.objects.create(organization=organization, key=f"p{uuid.uuid4().hex[:8]}", type="api_key", connected_at=inside)
        Integration.objects.create(organization=organization, key=f"p{uuid.uuid4().hex[:8]}", type="api_key", connected_at=inside, status="revoked")
    _audit(organization, at=clock.now() - timedelta(days=2), count=2 * scale)
    _audit(organization, at=_window_start() + timedelta(minutes=1), count=scale)  # the first day of the window
    _audit(organization, at=_window_start() - timedelta(minutes=1), count=scale)  # the day before it


@pytest.fixture
def analytics_team(team, on_plan):
    organization, members, clients = team
    on_plan(organization, "pro")
    return organization, members, clients


def test_free_plan_is_402_plan_upgrade_required(team):
    _, _, clients = team

    response = clients["owner"].get(URL)

    assert response.status_code == 402 and code_of(response) == "PLAN_UPGRADE_REQUIRED"
    assert response.json()["error"]["details"] == {"feature": "advanced_analytics"}


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_roles_without_audit_read_are_refused_before_the_plan_is_looked_at(team, role):
    _, _, clients = team

    response = clients[role].get(URL)

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"


def test_a_non_member_cannot_read_another_orgs_analytics(analytics_team, org_factory, on_plan):
    organization, _, _ = analytics_team
    other, other_members = org_factory()
    on_plan(other, "pro")
    outsider = client_for(other_members["owner"].user, other)

    response = outsider.get(URL, HTTP_X_ORG_ID=str(organization.id))

    assert response.status_code == 403 and code_of(response) == "INVALID_ORG_CONTEXT"


def test_figures_are_the_orgs_own_for_the_period(analytics_team, org_factory):
    # given: an org with rows inside and outside the window, and another org with more of the same
    organization, members, clients = analytics_team
    other, other_members = org_factory()
    _seed(organization, members["owner"].user)
    _seed(other, other_members["owner"].user, scale=3)
    # The fixture's own logins (and plan change) were audited today: part of the figures too.
    today = clock.now().date()
    audited_today = AuditEvent.objects.filter(organization_id=organization.id, created_at__date=today).count()

    # when
    response = clients["admin"].get(URL, {"days": 30})

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    start = _window_start()
    assert datetime.fromisoformat(body["period"]["start"]) == start
    assert body["members"] == {"total": 6, "active": 5, "joined": 5}  # the fixture's four joined today
    assert body["invites"] == {"sent": 2, "accepted": 1}
    assert body["api_keys"] == {"active": 1}
    assert body["ai"] == {"requests": 1}
    assert body["storage_mb"] == 1
    assert body["integrations"] == {"connected": 1}
    by_day = body["audit"]["by_day"]
    assert [row["date"] for row in by_day] == [(start.date() + timedelta(days=n)).isoformat() for n in range(30)]
    two_days_ago = (clock.now() - timedelta(days=2)).date()
    expected = {start.date().isoformat(): 1, two_days_ago.isoformat(): 2, today.isoformat(): audited_today}
    assert {row["date"]: row["count"] for row in by_day if row["count"]} == {day: n for day, n in expected.items() if n}
    assert body["audit"]["events"] == 3 + audited_today


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "", "1.5"])
def test_bad_days_is_400(analytics_team, days):
    _, _, clients = analytics_team

    response = clients["owner"].get(URL, {"days": days})

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert "days" in response.json()["error"]["details"]


def test_days_defaults_to_30_and_1_is_today(analytics_team):
    _, _, clients = analytics_team

    default = clients["owner"].get(URL).json()
    today = clients["owner"].get(URL, {"days": 1}).json()

    assert len(default["audit"]["by_day"]) == 30
    assert [row["date"] for row in today["audit"]["by_day"]] == [clock.now().date().isoformat()]
    assert datetime.fromisoformat(today["period"]["start"]) == clock.now().replace(hour=0, minute=0, second=0, microsecond=0)


def test_query_count_does_not_grow_with_the_data(analytics_team, django_assert_max_num_queries):
    # given: a warm request (the org context and session checks are cached after it)
    organization, members, clients = analytics_team
    client = clients["owner"]
    client.get(URL)
    _seed(organization, members["owner"].user, scale=1)
    with CaptureQueriesContext(connection) as small:
        assert client.get(URL, {"days": 365}).status_code == 200

    # when: ten times the rows
    _seed(organization, members["owner"].user, scale=10)

    # then
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(URL, {"days": 365})
    assert response.status_code == 200 and response.json()["ai"]["requests"] == 22


def test_an_api_key_needs_the_audit_read_scope(analytics_team):
    organization, members, _ = analytics_team
    owner = members["owner"].user
    clients = {}
    for name, scopes in {"narrow": ["org:read"], "wide": ["org:read", "audit:read"]}.items():
        _, secret = apikeys.api_key_create(organization=organization, name=name, grantable=authz.codes(), scopes=scopes, created_by=owner, actor=Actor.system())
        clients[name] = APIClient()
        clients[name].credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    narrow = clients["narrow"].get(URL)
    wide = clients["wide"].get(URL)

    assert narrow.status_code == 403 and code_of(narrow) == "INSUFFICIENT_PERMISSIONS"
    assert wide.status_code == 200 and wide.json()["api_keys"] == {"active": 2}
