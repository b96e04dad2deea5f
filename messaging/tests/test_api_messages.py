"""Messages API: send, keyset pages newest first, edit (author), soft delete (author or chat admin),
read receipts and the unread counts that follow them."""

import pytest

from audit.models import AuditEvent
from messaging.models import Message
from messaging.tests.conftest import code_of, group_chat, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(team):
    """A group chat of the owner (its admin) with the member and the admin."""
    return group_chat(team.clients["owner"], team.user("member"), team.user("admin"))


def test_send_numbers_messages_and_shows_the_sender(team, chat):
    first = send(team.clients["member"], chat["id"], "  hello  ")
    second = send(team.clients["owner"], chat["id"], "hi")

    assert first["seq"] == 1 and second["seq"] == 2
    assert first["content"] == "hello"
    assert first["sender"]["id"] == str(team.user("member").id)
    assert first["message_type"] == "TEXT" and first["is_deleted"] is False


@pytest.mark.parametrize("body", [{"content": ""}, {"content": "   "}, {"content": "x" * 4001}, {"content": "x", "message_type": "VIDEO"}, {}])
def test_send_refuses_bad_input(team, chat, body):
    response = team.clients["member"].post(f"/api/v1/chats/{chat['id']}/messages", body, format="json")

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert not Message.objects.exists()


def test_messages_page_newest_first_by_cursor(team, chat):
    for n in range(5):
        send(team.clients["member"], chat["id"], f"m{n}")
    client = team.clients["owner"]

    first = client.get(f"/api/v1/chats/{chat['id']}/messages?limit=2").json()
    second = client.get(f"/api/v1/chats/{chat['id']}/messages?limit=2&cursor={first['next_cursor']}").json()
    third = client.get(f"/api/v1/chats/{chat['id']}/messages?limit=2&cursor={second['next_cursor']}").json()

    assert [m["content"] for m in first["data"]] == ["m4", "m3"]
    assert [m["content"] for m in second["data"]] == ["m2", "m1"]
    assert [m["content"] for m in third["data"]] == ["m0"]
    assert third["next_cursor"] is None


@pytest.mark.parametrize("query", ["cursor=garbage!", "cursor=eDEy", "cursor=bXg", "limit=0", "limit=101", "limit=x"])
def test_bad_cursor_or_limit_is_400(team, chat, query):
    response = team.clients["owner"].get(f"/api/v1/chats/{chat['id']}/messages?{query}")

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"


def test_message_list_queries_do_not_grow_with_the_page(team, chat, django_assert_max_num_queries):
    for n in range(3):
        send(team.clients["member"], chat["id"], f"m{n}")
    with django_assert_max_num_queries(9):
        small = team.clients["owner"].get(f"/api/v1/chats/{chat['id']}/messages")
    for n in range(20):
        send(team.clients["admin"], chat["id"], f"more{n}")
    with django_assert_max_num_queries(9):
        large = team.clients["owner"].get(f"/api/v1/chats/{chat['id']}/messages")

    assert len(small.json()["data"]) == 3 and len(large.json()["data"]) == 23


def test_edit_is_for_the_author_only(team, chat):
    message = send(team.clients["member"], chat["id"], "typo")
    url = f"/api/v1/chats/{chat['id']}/messages/{message['id']}"

    by_other = team.clients["owner"].patch(url, {"content": "hijack"}, format="json")
    by_author = team.clients["member"].put(url, {"content": "fixed"}, format="json")

    assert by_other.status_code == 403 and code_of(by_other) == "INSUFFICIENT_PERMISSIONS"
    assert by_author.status_code == 200
    assert by_author.json()["content"] == "fixed" and by_author.json()["edited_at"] is not None
    event = AuditEvent.objects.get(action="message.edited")
    assert event.target_id == message["id"] and "fixed" not in str(event.metadata)


def test_delete_by_author_or_chat_admin_keeps_a_tombstone(team, chat):
    mine = send(team.clients["member"], chat["id"], "mine")
    theirs = send(team.clients["admin"], chat["id"], "theirs")
    base = f"/api/v1/chats/{chat['id']}/messages"

    refused = team.clients["member"].delete(f"{base}/{theirs['id']}")
    by_author = team.clients["member"].delete(f"{base}/{mine['id']}")
    by_chat_admin = team.clients["owner"].delete(f"{base}/{theirs['id']}")
    edit_deleted = team.clients["member"].patch(f"{base}/{mine['id']}", {"content": "back"}, format="json")

    assert refused.status_code == 403
    assert by_author.status_code == 204 and by_chat_admin.status_code == 204
    assert edit_deleted.status_code == 409
    listed = team.clients["owner"].get(base).json()["data"]
    assert [(m["is_deleted"], m["content"]) for m in listed] == [(True, ""), (True, "")]
    assert Message.objects.get(id=mine["id"]).content == ""
    assert AuditEvent.objects.filter(action="message.deleted").count() == 2


def test_read_receipts_drive_unread_counts(team, chat):
    messages = [send(team.clients["member"], chat["id"], f"m{n}") for n in range(3)]
    send(team.clients["owner"], chat["id"], "own")  # one's own message is read at once, nothing before it
    owner = team.clients["admin"]

    before = owner.get(f"/api/v1/chats/{chat['id']}").json()["unread_count"]
    partial = owner.post(f"/api/v1/chats/{chat['id']}/read", {"message_id": messages[1]["id"]}, format="json")
    backwards = owner.post(f"/api/v1/chats/{chat['id']}/read", {"message_id": messages[0]["id"]}, format="json")
    everything = owner.post(f"/api/v1/chats/{chat['id']}/read", {}, format="json")

    assert before == 4
    assert partial.status_code == 200 and partial.json()["unread_count"] == 2 and partial.json()["last_read_seq"] == 2
    assert backwards.json()["last_read_seq"] == 2  # never moves back
    assert everything.json() == {"chat_id": chat["id"], "last_read_seq": 4, "unread_count": 0}
    listed = owner.get("/api/v1/chats").json()["data"][0]
    assert listed["unread_count"] == 0
    # a deleted message stops counting as unread
    send(team.clients["member"], chat["id"], "new")
    last = send(team.clients["member"], chat["id"], "oops")
    team.clients["member"].delete(f"/api/v1/chats/{chat['id']}/messages/{last['id']}")
    assert owner.get(f"/api/v1/chats/{chat['id']}").json()["unread_count"] == 1


def test_read_up_to_a_message_of_another_chat_is_400(team, chat):
    other = group_chat(team.clients["owner"], team.user("viewer"))
    foreign = send(team.clients["owner"], other["id"])

    response = team.clients["member"].post(f"/api/v1/chats/{chat['id']}/read", {"message_id": foreign["id"]}, format="json")

    assert response.status_code == 400 and "message_id" in response.json()["error"]["details"]


def test_messages_of_a_chat_one_is_not_in_are_404(team, chat):
    message = send(team.clients["owner"], chat["id"])
    viewer = team.clients["viewer"]

    assert viewer.get(f"/api/v1/chats/{chat['id']}/messages").status_code == 404
    assert team.clients["viewer"].post(f"/api/v1/chats/{chat['id']}/read", {}, format="json").status_code == 404
    assert team.clients["owner"].get(f"/api/v1/chats/{chat['id']}/messages").status_code == 200
    assert viewer.delete(f"/api/v1/chats/{chat['id']}/messages/{message['id']}").status_code == 403  # viewer: no write at all


def test_a_cursor_past_any_integer_is_400_not_500(team, chat):
    import base64

    cursor = base64.urlsafe_b64encode(b"m" + b"9" * 40).decode().rstrip("=")

    response = team.clients["owner"].get(f"/api/v1/chats/{chat['id']}/messages?cursor={cursor}")

    assert response.status_code == 400
