"""Audit list with ?limit=&offset=, and the actors who appear in an org's log."""

import pytest

from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from audit.services import event_record
from conftest import client_for
from core.actor import Actor

pytestmark = pytest.mark.django_db


def url(organization, suffix=""):
    return f"/api/v1/orgs/{organization.id}/audit-logs{suffix}"


def seed(organization, count: int, *, actor: Actor | None = None) -> None:
    for n in range(count):
        event_record(action="doc.edited", actor=actor or Actor.system(), organization_id=organization.id, target_type="doc", target_id=str(n))


def test_limit_and_offset_page_through_the_log(team):
    organization, members, clients = team
    seed(organization, 5)
    total = AuditEvent.objects.filter(organization_id=organization.id).count()
    newest_first = [str(e.id) for e in AuditEvent.objects.filter(organization_id=organization.id).order_by("-created_at", "-id")]

    first = clients["admin"].get(url(organization), {"limit": 2, "offset": 0}).json()
    third = clients["admin"].get(url(organization), {"limit": 2, "offset": 2}).json()
    past = clients["admin"].get(url(organization), {"limit": 2, "offset": total + 3}).json()

    assert [e["id"] for e in first["data"]] == newest_first[:2] and [e["id"] for e in third["data"]] == newest_first[2:4]
    assert (third["total"], third["limit"], third["offset"], third["page"]) == (total, 2, 2, 2)
    assert past["data"] == [] and past["total"] == total


def test_page_mode_is_unchanged(team):
    organization, _, clients = team
    seed(organization, 3)

    body = clients["admin"].get(url(organization), {"page": 2, "limit": 2}).json()

    assert body["page"] == 2 and "offset" not in body


@pytest.mark.parametrize("params", [{"offset": -1}, {"offset": "x"}, {"offset": 2, "page": 2}])
def test_bad_offsets_are_400(team, params):
    organization, _, clients = team

    response = clients["admin"].get(url(organization), params)

    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_actors_lists_who_acted_with_counts(team):
    organization, members, clients = team
    admin = members["admin"].user
    seed(organization, 3, actor=Actor.for_user(admin))
    seed(organization, 1, actor=Actor.for_user(members["viewer"].user))
    seed(organization, 2)  # system events have no actor id: not an actor to filter on

    response = clients["admin"].get(url(organization, "/actors"))

    assert response.status_code == 200
    data = {row["id"]: row for row in response.json()["data"]}
    events = AuditEvent.objects.filter(organization_id=organization.id)
    assert data[str(admin.id)] == {
        "id": str(admin.id),
        "type": "user",
        "email": admin.email,
        "full_name": admin.full_name,
        "events": events.filter(actor_id=admin.id).count(),
    }
    assert set(data) == {str(actor) for actor in events.exclude(actor_id=None).values_list("actor_id", flat=True)}
    counts = [row["events"] for row in response.json()["data"]]
    assert counts == sorted(counts, reverse=True)


def test_actors_are_the_orgs_own(team, org_factory):
    organization, members, clients = team
    other, others = org_factory(roles=("owner",))
    seed(other, 2, actor=Actor.for_user(others["owner"].user))

    data = clients["admin"].get(url(organization, "/actors")).json()["data"]

    assert str(others["owner"].user_id) not in {row["id"] for row in data}
    assert client_for(others["owner"].user, other).get(url(organization, "/actors")).status_code == 404
    assert clients["member"].get(url(organization, "/actors")).status_code == 403


def test_actors_take_constant_queries(team, django_assert_max_num_queries):
    organization, _, clients = team
    for _ in range(2):
        seed(organization, 1, actor=Actor.for_user(UserFactory()))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        clients["admin"].get(url(organization, "/actors"))
    for _ in range(10):
        seed(organization, 1, actor=Actor.for_user(UserFactory()))

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = clients["admin"].get(url(organization, "/actors"))
    assert (
        len(response.json()["data"]) == AuditEvent.objects.filter(organization_id=organization.id).exclude(actor_id=None).values("actor_id").distinct().count()
    )
