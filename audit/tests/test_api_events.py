"""Each audited action, done through the real API, writes exactly one event with the right facts."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import UserSession
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit import selectors
from audit.models import AuditEvent
from conftest import client_for

pytestmark = pytest.mark.django_db


class NewEvents:
    """The events recorded while the block ran."""

    def __enter__(self):
        self.before = set(AuditEvent.objects.values_list("id", flat=True))
        return self

    def __exit__(self, *exc):
        self.events = list(AuditEvent.objects.exclude(id__in=self.before).order_by("sequence"))

    def only(self, action: str) -> AuditEvent:
        matching = [e for e in self.events if e.action == action]
        assert len(matching) == 1, [e.action for e in self.events]
        return matching[0]


def seen_through_the_api(client, organization, event: AuditEvent) -> dict:
    response = client.get(f"/api/v1/orgs/{organization.id}/audit-logs/{event.id}")
    assert response.status_code == 200, response.content
    return response.json()


def test_org_created(user):
    client = client_for(user)

    with NewEvents() as new:
        response = client.post("/api/v1/orgs", {"name": "Acme"}, format="json")

    assert response.status_code == 201, response.content
    event = new.only("org.created")
    org_id = response.json()["id"]
    assert (event.actor_type, event.actor_id, event.actor_email) == ("user", user.id, user.email)
    assert str(event.organization_id) == org_id
    assert (event.target_type, event.target_id) == ("organization", org_id)
    assert selectors.chain_verify(organization_id=event.organization_id).valid


def test_org_updated(team):
    organization, members, clients = team
    old_name = organization.name

    with NewEvents() as new:
        response = clients["admin"].patch(f"/api/v1/orgs/{organization.id}", {"name": "Renamed"}, format="json")

    assert response.status_code == 200
    event = new.only("org.updated")
    assert len(new.events) == 1
    assert event.actor_id == members["admin"].user_id
    assert (event.target_type, event.target_id) == ("organization", str(organization.id))
    assert event.changes == {"name": [old_name, "Renamed"]}
    item = seen_through_the_api(clients["owner"], organization, event)
    assert item["actor"] == {"type": "user", "id": str(members["admin"].user_id), "email": members["admin"].user.email}
    assert item["changes"] == {"name": [old_name, "Renamed"]}
    assert item["target"] == {"type": "organization", "id": str(organization.id)}
    assert item["ip"] == "127.0.0.1" and item["request_id"] == response["X-Request-ID"]


def test_member_role_changed_targets_the_user(team):
    organization, members, clients = team
    viewer = members["viewer"].user

    with NewEvents() as new:
        response = clients["owner"].patch(f"/api/v1/orgs/{organization.id}/members/{viewer.id}", {"role": "member"}, format="json")

    assert response.status_code == 200, response.content
    event = new.only("member.role_changed")
    assert event.actor_id == members["owner"].user_id
    assert (event.target_type, event.target_id) == ("user", str(viewer.id))
    assert event.changes == {"role": ["viewer", "member"]}
    assert event.organization_id == organization.id


def test_member_removed(team):
    organization, members, clients = team
    leaving = members["member"].user

    with NewEvents() as new:
        response = clients["admin"].delete(f"/api/v1/orgs/{organization.id}/members/{leaving.id}")

    assert response.status_code == 204
    event = new.only("member.removed")
    assert event.actor_id == members["admin"].user_id
    assert (event.target_type, event.target_id) == ("user", str(leaving.id))
    assert event.changes == {"role": ["member", None]}


def test_user_logged_in(org_factory):
    organization, members = org_factory(roles=("owner",))
    owner = members["owner"].user

    with NewEvents() as new:
        client = client_for(owner, organization)

    event = new.only("user.logged_in")
    assert len(new.events) == 1
    session = UserSession.objects.get(user=owner)
    assert (event.actor_id, event.organization_id) == (owner.id, organization.id)
    assert (event.target_type, event.target_id) == ("usersession", str(session.id))
    assert event.changes == {}
    assert seen_through_the_api(client, organization, event)["action"] == "user.logged_in"


def test_user_login_failed(org_factory):
    organization, members = org_factory(roles=("owner",))
    owner = members["owner"].user

    with NewEvents() as new:
        response = APIClient().post("/api/v1/auth/login", {"email": owner.email, "password": "wrong-password-123"}, format="json")

    assert response.status_code == 401
    event = new.only("user.login_failed")
    assert len(new.events) == 1
    assert (event.actor_id, event.organization_id) == (owner.id, organization.id)
    assert (event.target_type, event.target_id) == ("user", str(owner.id))
    assert "wrong-password-123" not in str(event.changes) + str(event.metadata)


def test_session_revoked(team):
    organization, members, clients = team
    owner = members["owner"].user
    other_client = client_for(owner, organization)
    sid = AccessToken(other_client.tokens["access_token"])["sid"]

    with NewEvents() as new:
        response = clients["owner"].delete(f"/api/v1/auth/sessions/{sid}")

    assert response.status_code == 204
    event = new.only("session.revoked")
    assert len(new.events) == 1
    assert (event.actor_id, event.organization_id) == (owner.id, organization.id)
    assert (event.target_type, event.target_id) == ("usersession", str(sid))


def test_password_changed_keeps_the_passwords_out(team):
    organization, members, clients = team
    owner = members["owner"].user
    client_for(owner, organization)  # a second session, revoked by the change

    with NewEvents() as new:
        response = clients["owner"].post(
            "/api/v1/auth/password/change",
            {"current_password": DEFAULT_PASSWORD, "new_password": "An0ther-long-passphrase"},
            format="json",
        )

    assert response.status_code == 204, response.content
    event = new.only("user.password_changed")
    assert (event.actor_id, event.organization_id) == (owner.id, organization.id)
    assert (event.target_type, event.target_id) == ("user", str(owner.id))
    assert [e.action for e in new.events] == ["user.password_changed", "session.revoked"]
    for e in new.events:
        assert DEFAULT_PASSWORD not in str(e.changes) + str(e.metadata)
        assert "An0ther-long-passphrase" not in str(e.changes) + str(e.metadata)


def test_api_key_created_never_records_the_secret(team):
    organization, members, clients = team

    with NewEvents() as new:
        response = clients["owner"].post(f"/api/v1/orgs/{organization.id}/api-keys", {"name": "CI", "scopes": ["members:read"]}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    event = new.only("api_key.created")
    assert event.actor_id == members["owner"].user_id
    assert (event.target_type, event.target_id) == ("apikey", body["id"])
    assert event.changes["name"] == [None, "CI"]
    assert body["secret"] not in str(event.changes) + str(event.metadata)


def test_every_event_of_a_busy_org_stays_on_one_valid_chain(team):
    organization, members, clients = team
    clients["owner"].patch(f"/api/v1/orgs/{organization.id}", {"name": "One"}, format="json")
    clients["admin"].patch(f"/api/v1/orgs/{organization.id}", {"name": "Two"}, format="json")
    clients["owner"].patch(f"/api/v1/orgs/{organization.id}/members/{members['viewer'].user_id}", {"role": "member"}, format="json")
    UserFactory()  # no org: nothing recorded in this org's chain

    response = clients["owner"].get(f"/api/v1/orgs/{organization.id}/audit-logs/verify")

    count = AuditEvent.objects.filter(organization_id=organization.id).count()
    assert response.json() == {"valid": True, "checked": count, "first_broken_id": None}
    assert count >= 7  # four logins and three changes
