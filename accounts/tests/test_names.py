"""Name fields (API.md v1.1): `full_name`, its alias `name`, or `first_name` + `last_name`, kept consistent."""

import importlib

import pytest
from django.apps import apps

from accounts.models import User
from accounts.tests.factories import UserFactory
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
ME = "/api/v1/users/me"
PASSWORD = "Correct-horse-battery-9"


def register(client, **names):
    return client.post(REGISTER, {"email": "ada@example.com", "password": PASSWORD, **names}, format="json")


def names_of(body) -> tuple[str, str, str]:
    return body["full_name"], body["first_name"], body["last_name"]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ({"full_name": "Ada King Lovelace"}, ("Ada King Lovelace", "Ada", "King Lovelace")),
        ({"name": "Ada Lovelace"}, ("Ada Lovelace", "Ada", "Lovelace")),
        ({"first_name": "Ada King", "last_name": "Lovelace"}, ("Ada King Lovelace", "Ada King", "Lovelace")),
        ({"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada  Lovelace"}, ("Ada Lovelace", "Ada", "Lovelace")),
        ({"name": "Ada Lovelace", "full_name": "Ada Lovelace"}, ("Ada Lovelace", "Ada", "Lovelace")),
        ({"first_name": "Ada"}, ("Ada", "Ada", "")),
        ({"first_name": "Ada", "last_name": "Lovelace", "full_name": "", "name": ""}, ("Ada Lovelace", "Ada", "Lovelace")),
    ],
)
def test_register_takes_any_name_form_and_returns_all_three(api_client, sent, expected):
    # when
    response = register(api_client, **sent)

    # then
    assert response.status_code == 201, response.content
    assert names_of(response.json()["user"]) == expected
    user = User.objects.get(email="ada@example.com")
    assert (user.full_name, user.first_name, user.last_name) == expected


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({"name": "Ada Lovelace", "full_name": "Grace Hopper"}, "name"),
        ({"first_name": "Ada", "last_name": "Lovelace", "full_name": "Grace Hopper"}, "full_name"),
        ({"first_name": "Ada", "last_name": "Lovelace", "name": "Ada Byron"}, "full_name"),
        ({}, "full_name"),
        ({"name": "   "}, "full_name"),
        ({"first_name": "A" * 100, "last_name": "B" * 100}, "full_name"),
    ],
)
def test_register_refuses_conflicting_or_missing_names(api_client, sent, field):
    # when
    response = register(api_client, **sent)

    # then
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not User.objects.exists()


def test_a_missing_name_is_reported_with_the_other_missing_fields(api_client):
    response = api_client.post(REGISTER, {}, format="json")

    assert response.status_code == 400
    assert {"email", "password", "full_name"} <= set(response.json()["error"]["details"])


def test_me_patch_with_a_part_keeps_the_other_and_recomputes_full_name(auth_client, user):
    # given
    User.objects.filter(pk=user.pk).update(full_name="Ada Lovelace", first_name="Ada", last_name="Lovelace")

    # when
    response = auth_client.patch(ME, {"last_name": "King"}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert names_of(response.json()) == ("Ada King", "Ada", "King")
    user.refresh_from_db()
    assert (user.full_name, user.first_name, user.last_name) == ("Ada King", "Ada", "King")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_me_update_takes_the_name_alias(auth_client, method):
    response = getattr(auth_client, method)(ME, {"name": "Grace Brewster Hopper"}, format="json")

    assert response.status_code == 200, response.content
    assert names_of(response.json()) == ("Grace Brewster Hopper", "Grace", "Brewster Hopper")


def test_me_update_refuses_a_full_name_that_contradicts_the_parts(auth_client, user):
    before = (user.full_name, user.first_name, user.last_name)

    response = auth_client.patch(ME, {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Someone Else"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    user.refresh_from_db()
    assert (user.full_name, user.first_name, user.last_name) == before


def test_me_update_of_names_is_audited(auth_client, user):
    from audit.models import AuditEvent

    auth_client.patch(ME, {"first_name": "Grace", "last_name": "Hopper"}, format="json")

    event = AuditEvent.objects.get(action="user.updated")
    assert event.changes["full_name"][1] == "Grace Hopper"
    assert event.changes["first_name"][1] == "Grace" and event.changes["last_name"][1] == "Hopper"


def test_member_items_carry_the_three_name_fields(org_factory):
    from conftest import client_for

    # given
    organization, members = org_factory(roles=("owner", "member"))
    member = members["member"].user
    User.objects.filter(pk=member.pk).update(full_name="Ada Lovelace", first_name="Ada", last_name="Lovelace")
    owner = client_for(members["owner"].user, organization)

    # when
    listed = owner.get(f"/api/v1/orgs/{organization.id}/members").json()["data"]
    one = owner.get(f"/api/v1/orgs/{organization.id}/members/{member.id}").json()

    # then
    item = next(row for row in listed if row["user_id"] == str(member.id))
    assert names_of(item) == names_of(one) == ("Ada Lovelace", "Ada", "Lovelace")


def issue_invite(email: str = "new@example.com"):
    """An invitation of `email` to a fresh org, as its owner sends it."""
    from core.actor import Actor
    from organizations import invites
    from organizations.models import Membership

    organization = OrganizationFactory()
    inviter = UserFactory()
    Membership.objects.create(organization=organization, user=inviter, role="owner")
    return invites.invite_create(organization=organization, email=email, role="member", actor=Actor.for_user(inviter))


def test_anonymous_invite_accept_takes_first_and_last_name(api_client, unlimited_plan):
    # given
    issued = issue_invite()

    # when
    response = api_client.post(f"/api/v1/invites/{issued.code}/accept", {"first_name": "Mary Ann", "last_name": "Evans", "password": PASSWORD}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert names_of(response.json()["user"]) == ("Mary Ann Evans", "Mary Ann", "Evans")


def test_anonymous_invite_accept_refuses_a_body_without_any_name(api_client, unlimited_plan):
    issued = issue_invite()

    response = api_client.post(f"/api/v1/invites/{issued.code}/accept", {"password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert "full_name" in response.json()["error"]["details"]
    assert not User.objects.filter(email="new@example.com").exists()


def test_the_data_migration_splits_existing_full_names():
    # given: rows as they were before the migration (names only in full_name)
    spaced = UserFactory(full_name="  Ada   King Lovelace ", first_name="", last_name="")
    single = UserFactory(full_name="Plato", first_name="", last_name="")
    blank = UserFactory(full_name="", first_name="", last_name="")
    migration = importlib.import_module("accounts.migrations.0002_user_first_last_name")

    # when
    migration.split_full_names(apps, None)

    # then
    for user in (spaced, single, blank):
        user.refresh_from_db()
    assert (spaced.first_name, spaced.last_name) == ("Ada", "King Lovelace")
    assert (single.first_name, single.last_name) == ("Plato", "")
    assert (blank.first_name, blank.last_name) == ("", "")
