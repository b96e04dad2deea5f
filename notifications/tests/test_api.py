"""The notifications API: a user's own list, counts, read state, deletion and preferences."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from conftest import client_for
from core import authz, clock
from core.actor import Actor
from notifications.models import Notification, NotificationPreference
from notifications.tests.conftest import code_of
from notifications.tests.factories import NotificationFactory
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from permissions import apikeys

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications"


@pytest.fixture
def alice():
    return UserFactory()


@pytest.fixture
def client(alice):
    return client_for(alice)


def aged(user, n: int, **fields) -> list[Notification]:
    """n notifications of `user`, the last one newest."""
    start = clock.now() - timedelta(hours=n)
    return [NotificationFactory(user=user, created_at=start + timedelta(hours=i), **fields) for i in range(n)]


# --- list -----------------------------------------------------------------------------------


def test_list_is_paginated_newest_first_and_only_mine(client, alice):
    # given
    mine = aged(alice, 3)
    NotificationFactory(user=UserFactory())
    # when
    response = client.get(URL, {"limit": 2})
    # then
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("total", "page", "limit", "total_pages")} == {"total": 3, "page": 1, "limit": 2, "total_pages": 2}
    assert [item["id"] for item in body["data"]] == [str(mine[2].id), str(mine[1].id)]
    item = body["data"][0]
    assert set(item) == {"id", "event", "title", "body", "data", "organization_id", "read", "read_at", "created_at"}
    assert item["read"] is False and item["read_at"] is None and item["created_at"].endswith("Z")
    second = client.get(URL, {"limit": 2, "page": 2}).json()
    assert [i["id"] for i in second["data"]] == [str(mine[0].id)]


def test_trailing_slash_is_optional(client, alice):
    NotificationFactory(user=alice)
    assert client.get(URL + "/").json()["total"] == 1
    assert client.get(URL + "/unread-count/").json() == {"count": 1}


@pytest.mark.parametrize(("value", "expected"), [("true", 1), ("1", 1), ("false", 2), ("0", 2), ("", 2)])
def test_unread_only(client, alice, value, expected):
    read, _ = aged(alice, 2)
    read.read_at = clock.now()
    read.save()
    body = client.get(URL, {"unread_only": value}).json()
    assert body["total"] == expected
    if expected == 1:
        assert body["data"][0]["read"] is False


def test_organization_filter(client, alice):
    organization = OrganizationFactory()
    about_it = NotificationFactory(user=alice, organization=organization)
    NotificationFactory(user=alice)
    body = client.get(URL, {"organization_id": str(organization.id)}).json()
    assert [i["id"] for i in body["data"]] == [str(about_it.id)]
    assert body["data"][0]["organization_id"] == str(organization.id)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"unread_only": "maybe"}, "unread_only"), ({"organization_id": "nope"}, "organization_id"), ({"limit": "0"}, "limit"), ({"page": "x"}, "page")],
)
def test_bad_query_is_a_400_envelope(client, params, field):
    response = client.get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and field in error["details"] and error["request_id"]


def test_list_query_count_does_not_grow_with_the_page(client, alice):
    organization = OrganizationFactory()
    aged(alice, 10, organization=organization)
    client.get(URL)  # warm up: the first request caches the session state
    with CaptureQueriesContext(connection) as ten:
        assert len(client.get(URL, {"limit": 100}).json()["data"]) == 10
    aged(alice, 50, organization=organization)
    with CaptureQueriesContext(connection) as sixty:
        assert len(client.get(URL, {"limit": 100}).json()["data"]) == 60
    assert len(sixty) == len(ten)


# --- count, get, read, read-all, delete --------------------------------------------------------


def test_unread_count(client, alice):
    organization = OrganizationFactory()
    aged(alice, 3)
    NotificationFactory(user=alice, organization=organization)
    NotificationFactory(user=alice, read_at=clock.now())
    NotificationFactory(user=UserFactory())
    assert client.get(f"{URL}/unread-count").json() == {"count": 4}
    assert client.get(f"{URL}/unread-count", {"organization_id": str(organization.id)}).json() == {"count": 1}
    assert client.get(f"{URL}/unread-count", {"organization_id": "x"}).status_code == 400


def test_get_one(client, alice):
    notification = NotificationFactory(user=alice, data={"role": "admin"})
    response = client.get(f"{URL}/{notification.id}")
    assert response.status_code == 200
    assert response.json()["id"] == str(notification.id) and response.json()["data"] == {"role": "admin"}


def test_read_marks_once_and_returns_the_notification(client, alice):
    notification = NotificationFactory(user=alice)
    first = client.put(f"{URL}/{notification.id}/read")
    assert first.status_code == 200
    assert first.json()["read"] is True and first.json()["read_at"]
    again = client.put(f"{URL}/{notification.id}/read")
    assert again.status_code == 200 and again.json()["read_at"] == first.json()["read_at"]
    assert client.get(f"{URL}/unread-count").json() == {"count": 0}


def test_read_all_touches_only_my_unread_ones(client, alice):
    # given
    aged(alice, 3)
    earlier = clock.now() - timedelta(days=1)
    already = NotificationFactory(user=alice, read_at=earlier)
    others = NotificationFactory(user=UserFactory())
    # when
    response = client.put(f"{URL}/read-all")
    # then
    assert response.status_code == 200 and response.json() == {"updated": 3}
    assert not Notification.objects.filter(user=alice, read_at__isnull=True).exists()
    already.refresh_from_db()
    others.refresh_from_db()
    assert already.read_at == earlier and others.read_at is None
    assert client.put(f"{URL}/read-all").json() == {"updated": 0}


def test_read_all_for_one_organization(client, alice):
    organization = OrganizationFactory()
    NotificationFactory(user=alice, organization=organization)
    elsewhere = NotificationFactory(user=alice)
    assert client.put(f"{URL}/read-all?organization_id={organization.id}").json() == {"updated": 1}
    elsewhere.refresh_from_db()
    assert elsewhere.read_at is None


def test_delete(client, alice):
    notification = NotificationFactory(user=alice)
    assert client.delete(f"{URL}/{notification.id}").status_code == 204
    assert not Notification.objects.filter(id=notification.id).exists()
    assert client.delete(f"{URL}/{notification.id}").status_code == 404


def test_unknown_id_is_404(client):
    response = client.get(f"{URL}/{uuid.uuid4()}")
    assert response.status_code == 404 and code_of(response) == "NOT_FOUND"


# --- isolation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("put", "/read"), ("delete", "")])
def test_another_users_notification_is_404_and_untouched(client, method, suffix):
    # given Bob's notification
    bobs = NotificationFactory(user=UserFactory())
    # when Alice aims at it
    response = getattr(client, method)(f"{URL}/{bobs.id}{suffix}")
    # then it does not exist for her, and stays as it was
    assert response.status_code == 404 and code_of(response) == "NOT_FOUND"
    bobs.refresh_from_db()
    assert bobs.read_at is None


def test_an_organizations_notifications_are_per_user(alice):
    # A fellow member of the same org sees none of Alice's notifications about it.
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=alice, role="owner")
    fellow = MembershipFactory(organization=organization, role="admin").user
    NotificationFactory(user=alice, organization=organization)
    other = client_for(fellow, organization)
    assert other.get(URL, {"organization_id": str(organization.id)}).json()["total"] == 0
    assert other.get(f"{URL}/unread-count").json() == {"count": 0}


# --- preferences ----------------------------------------------------------------------------


def test_preferences_default(client):
    response = client.get(f"{URL}/preferences")
    assert response.status_code == 200
    body = response.json()
    assert body["email_enabled"] is True and body["in_app_enabled"] is True
    assert body["preferences"] == {
        "invitation_received": {"email": False, "in_app": True},
        "role_changed": {"email": True, "in_app": True},
        "member_removed": {"email": True, "in_app": True},
        "integration_failed": {"email": True, "in_app": True},
        "payment_failed": {"email": True, "in_app": True},
        "subscription_changed": {"email": True, "in_app": True},
    }


def test_preferences_put_changes_what_is_given_only(client, alice):
    first = client.put(f"{URL}/preferences", {"email_enabled": False, "preferences": {"role_changed": {"email": False}}}, format="json")
    assert first.status_code == 200
    second = client.put(f"{URL}/preferences", {"preferences": {"role_changed": {"in_app": False}, "payment_failed": {"email": False}}}, format="json")
    body = second.json()
    assert body["email_enabled"] is False and body["in_app_enabled"] is True
    assert body["preferences"]["role_changed"] == {"email": False, "in_app": False}
    assert body["preferences"]["payment_failed"] == {"email": False, "in_app": True}
    assert body["preferences"]["member_removed"] == {"email": True, "in_app": True}
    assert client.get(f"{URL}/preferences").json() == body
    assert NotificationPreference.objects.get(user=alice).preferences == {
        "role_changed": {"email": False, "in_app": False},
        "payment_failed": {"email": False},
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"preferences": {"lunch_ready": {"email": True}}}, "preferences"),
        ({"preferences": {"role_changed": {"sms": True}}}, "preferences"),
        ({"preferences": {"role_changed": {"email": "sometimes"}}}, "preferences"),
        ({"preferences": {"role_changed": True}}, "preferences"),
        ({"preferences": ["role_changed"]}, "preferences"),
        ({"email_enabled": "perhaps"}, "email_enabled"),
    ],
)
def test_preferences_put_validates(client, alice, payload, field):
    response = client.put(f"{URL}/preferences", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and field in error["details"]
    assert not NotificationPreference.objects.filter(user=alice).exists()


def test_unknown_event_error_names_it(client):
    details = client.put(f"{URL}/preferences", {"preferences": {"lunch_ready": {}}}, format="json").json()["error"]["details"]
    assert "lunch_ready" in details["preferences"]


# --- who may call ---------------------------------------------------------------------------

ROUTES = [
    ("get", ""),
    ("get", "/unread-count"),
    ("put", "/read-all"),
    ("get", "/preferences"),
    ("put", "/preferences"),
    ("get", "/{id}"),
    ("put", "/{id}/read"),
    ("delete", "/{id}"),
]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_unauthenticated_is_401(api_client, method, suffix):
    notification = NotificationFactory()
    response = getattr(api_client, method)(URL + suffix.format(id=notification.id), {}, format="json")
    assert response.status_code == 401 and code_of(response) == "AUTHENTICATION_FAILED"


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_api_keys_are_refused(method, suffix):
    # given an org API key with every scope
    organization = OrganizationFactory()
    owner = MembershipFactory(organization=organization, role="owner")
    notification = NotificationFactory(user=owner.user, organization=organization)
    _, secret = apikeys.api_key_create(organization=organization, name="ci", grantable=authz.codes(), actor=Actor.system())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    # when it calls a per-user route
    response = getattr(client, method)(URL + suffix.format(id=notification.id), {}, format="json")
    # then it is refused cleanly, and nothing changed
    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    notification.refresh_from_db()
    assert notification.read_at is None


def test_export_includes_my_notifications_and_preferences(client, alice):
    notification = NotificationFactory(user=alice)
    NotificationFactory(user=UserFactory())
    body = client.get("/api/v1/users/me/export").json()
    assert [n["id"] for n in body["notifications"]] == [str(notification.id)]
    assert body["notification_preferences"]["email_enabled"] is True
