"""Tenant isolation: a member of org A reaches none of org B's chats, messages and calls (404),
cannot name org B in X-Org-ID (403) and cannot add org B's users to a chat (400)."""

import pytest

from messaging.models import Call, Chat, ChatMember, Message
from messaging.tests.conftest import code_of, group_chat, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(team, other_team):
    """Org B with a group chat, a message and a live call; org A's owner as the intruder."""
    chat = group_chat(other_team.clients["owner"], other_team.user("member"))
    message = send(other_team.clients["owner"], chat["id"], "secret")
    call = other_team.clients["owner"].post(f"/api/v1/calls/chats/{chat['id']}", {"call_type": "audio"}, format="json").json()
    return chat, message, call


def _snapshot():
    return (
        sorted(Chat.objects.values_list("id", "name", "description")),
        sorted(ChatMember.objects.values_list("id", "user_id", "role", "last_read_seq")),
        sorted(Message.objects.values_list("id", "content", "deleted_at")),
        sorted(Call.objects.values_list("id", "status")),
    )


def test_org_a_member_gets_404_for_everything_of_org_b(team, other_team, world):
    chat, message, call = world
    intruder = team.clients["owner"]
    c, m, k = chat["id"], message["id"], call["id"]
    someone = other_team.user("member").id
    before = _snapshot()
    requests = [
        ("get", f"/api/v1/chats/{c}", None),
        ("patch", f"/api/v1/chats/{c}", {"name": "pwned"}),
        ("put", f"/api/v1/chats/{c}", {"name": "pwned"}),
        ("delete", f"/api/v1/chats/{c}", None),
        ("post", f"/api/v1/chats/{c}/members", {"member_ids": [str(team.user("member").id)]}),
        ("delete", f"/api/v1/chats/{c}/members/{someone}", None),
        ("post", f"/api/v1/chats/{c}/leave", None),
        ("post", f"/api/v1/chats/{c}/read", {}),
        ("get", f"/api/v1/chats/{c}/messages", None),
        ("post", f"/api/v1/chats/{c}/messages", {"content": "hi"}),
        ("patch", f"/api/v1/chats/{c}/messages/{m}", {"content": "x"}),
        ("put", f"/api/v1/chats/{c}/messages/{m}", {"content": "x"}),
        ("delete", f"/api/v1/chats/{c}/messages/{m}", None),
        ("post", f"/api/v1/calls/chats/{c}", {"call_type": "audio"}),
        ("get", f"/api/v1/calls/chats/{c}/active", None),
        ("get", f"/api/v1/calls/{k}", None),
        ("post", f"/api/v1/calls/{k}/join", None),
        ("post", f"/api/v1/calls/{k}/leave", None),
        ("post", f"/api/v1/calls/{k}/end", None),
        ("post", f"/api/v1/calls/{k}/reject", None),
        ("put", f"/api/v1/calls/{k}/media", {"audio_enabled": False}),
        ("patch", f"/api/v1/calls/{k}/media", {"audio_enabled": False}),
    ]
    failures = []
    for method, path, body in requests:
        response = getattr(intruder, method)(path, body, format="json") if body is not None else getattr(intruder, method)(path)
        if response.status_code != 404:
            failures.append(f"{method.upper()} {path} -> {response.status_code}")

    assert failures == []
    assert _snapshot() == before
    assert intruder.get("/api/v1/chats").json()["total"] == 0


def test_naming_org_b_in_x_org_id_is_refused(team, other_team, world):
    response = team.clients["owner"].get("/api/v1/chats", HTTP_X_ORG_ID=str(other_team.organization.id))

    assert response.status_code == 403 and code_of(response) == "INVALID_ORG_CONTEXT"


def test_users_of_org_b_cannot_be_added(team, other_team):
    chat = group_chat(team.clients["owner"], team.user("member"))

    response = team.clients["owner"].post(f"/api/v1/chats/{chat['id']}/members", {"member_ids": [str(other_team.user("member").id)]}, format="json")
    direct = team.clients["owner"].post("/api/v1/chats", {"type": "direct", "member_ids": [str(other_team.user("owner").id)]}, format="json")

    assert response.status_code == 400 and direct.status_code == 400
    assert not ChatMember.objects.filter(user=other_team.user("member"), chat_id=chat["id"]).exists()
