import pytest
from rest_framework.test import APIClient

from accounts.models import User, UserSession
from accounts.tests.factories import DEFAULT_PASSWORD
from audit.models import AuditEvent
from core import hooks

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"


def test_me_shape(auth_client, user):
    response = auth_client.get(ME)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "id",
        "email",
        "full_name",
        "avatar_url",
        "phone",
        "email_verified",
        "mfa_enabled",
        "has_password",
        "linked_providers",
        "needs_org_setup",
        "active_organization",
        "role",
    }
    assert body["id"] == str(user.id)
    assert body["has_password"] is True
    assert body["linked_providers"] == []
    assert body["needs_org_setup"] is True
    assert body["active_organization"] is None and body["role"] is None
    assert user.password not in response.content.decode()


def test_me_requires_authentication(api_client):
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    garbled = APIClient()
    garbled.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    response = garbled.get(ME)
    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_INVALID"


def test_patch_me_updates_and_audits(auth_client, user):
    response = auth_client.patch(ME, {"full_name": "Ada L.", "phone": "+44 20 7946 0958"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["full_name"] == "Ada L."
    user.refresh_from_db()
    assert user.phone == "+44 20 7946 0958"
    event = AuditEvent.objects.get(action="user.updated")
    assert event.changes["full_name"][1] == "Ada L."


def test_put_me_behaves_like_patch(auth_client, user):
    response = auth_client.put(ME, {"avatar_url": "https://cdn.example.com/a.png"}, format="json")
    assert response.status_code == 200
    assert response.json()["avatar_url"] == "https://cdn.example.com/a.png"


def test_patch_me_ignores_fields_that_are_not_editable(auth_client, user):
    auth_client.patch(ME, {"email": "evil@example.com", "is_staff": True}, format="json")
    user.refresh_from_db()
    assert user.email != "evil@example.com" and user.is_staff is False


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"phone": "call me maybe"}, "phone"),
        ({"full_name": "x" * 151}, "full_name"),
        ({"full_name": {"nested": 1}}, "full_name"),
    ],
)
def test_patch_me_bad_input(auth_client, user, payload, field):
    response = auth_client.patch(ME, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_delete_me_needs_the_password(auth_client, user):
    response = auth_client.delete(ME, {"password": "wrong-wrong-wrong"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]
    assert User.objects.filter(id=user.id).exists()


def test_delete_me_erases_the_account_and_kills_tokens(auth_client, user):
    response = auth_client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204
    assert not User.objects.filter(id=user.id).exists()
    assert not UserSession.objects.filter(user_id=user.id).exists()
    assert auth_client.get(ME).status_code == 401
    assert AuditEvent.objects.filter(action="user.deleted", actor_id=user.id).exists()


def test_delete_me_refused_while_a_hook_reports_a_blocker(auth_client, user, monkeypatch):
    monkeypatch.setattr(hooks.user_deletion_blocker, "provider", lambda user: "You own an organization with other members.")
    response = auth_client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert User.objects.filter(id=user.id).exists()


def test_export_contains_everything_held(auth_client, user):
    auth_client.patch(ME, {"full_name": "Exported Person"}, format="json")
    response = auth_client.get("/api/v1/users/me/export")
    assert response.status_code == 200
    body = response.json()
    assert body["profile"]["email"] == user.email
    assert body["profile"]["full_name"] == "Exported Person"
    assert len(body["sessions"]) == 1
    assert {e["action"] for e in body["audit_events"]} >= {"user.logged_in", "user.updated"}
    assert body["mfa"]["enabled"] is False
    assert body["memberships"] == []
    text = response.content.decode()
    assert user.password not in text and "argon2" not in text


def test_export_is_only_mine(auth_client, user, api_client):
    from accounts.tests.factories import UserFactory
    from conftest import login_tokens

    other = UserFactory()
    login_tokens(api_client, other.email)
    body = auth_client.get("/api/v1/users/me/export").json()
    assert all(str(other.id) not in str(event) for event in body["audit_events"])
    assert len(body["sessions"]) == 1
