"""Chats API: create (direct once per pair, group), list with last message and unread count, get,
update, delete, members add/remove, leave; permissions per role and chat rules; audit events."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from messaging.models import Chat, ChatMember
from messaging.tests.conftest import code_of, direct_chat, group_chat, send

pytestmark = pytest.mark.django_db


def test_direct_chat_is_created_once_per_pair(team):
    owner, member = team.user("owner"), team.user("member")

    first = team.clients["owner"].post("/api/v1/chats", {"type": "direct", "member_ids": [str(member.id)]}, format="json")
    again = team.clients["owner"].post("/api/v1/chats", {"type": "direct", "member_ids": [str(member.id)]}, format="json")
    other_side = team.clients["member"].post("/api/v1/chats", {"type": "direct", "member_ids": [str(owner.id)]}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200 and other_side.status_code == 200
    assert first.json()["id"] == again.json()["id"] == other_side.json()["id"]
    body = first.json()
    assert body["type"] == "direct"
    assert {m["user_id"] for m in body["members"]} == {str(owner.id), str(member.id)}
    assert Chat.objects.count() == 1
    assert AuditEvent.objects.filter(action="chat.created", target_id=body["id"]).count() == 1


@pytest.mark.parametrize("member_ids", [[], ["self"], ["member", "admin"]])
def test_direct_chat_names_exactly_one_other_member(team, member_ids):
    ids = [str(team.user("owner").id) if name == "self" else str(team.user(name).id) for name in member_ids]

    response = team.clients["owner"].post("/api/v1/chats", {"type": "direct", "member_ids": ids}, format="json")

    assert response.status_code == 400
    assert code_of(response) == "VALIDATION_ERROR"
    assert "member_ids" in response.json()["error"]["details"]


def test_group_chat_needs_a_name_and_makes_the_creator_its_admin(team):
    nameless = team.clients["member"].post("/api/v1/chats", {"type": "group", "member_ids": [str(team.user("admin").id)]}, format="json")
    chat = group_chat(team.clients["member"], team.user("admin"), team.user("viewer"))

    assert nameless.status_code == 400 and "name" in nameless.json()["error"]["details"]
    roles = {m["user_id"]: m["role"] for m in chat["members"]}
    assert roles == {str(team.user("member").id): "admin", str(team.user("admin").id): "member", str(team.user("viewer").id): "member"}
    assert chat["my_role"] == "admin" and chat["unread_count"] == 0 and chat["last_message"] is None


def test_members_must_be_active_members_of_the_org(team, other_team):
    from organizations.models import Membership

    suspended = team.members["viewer"]
    suspended.status = Membership.Status.SUSPENDED
    suspended.save()

    foreign = team.clients["owner"].post("/api/v1/chats", {"type": "group", "name": "x", "member_ids": [str(other_team.user("member").id)]}, format="json")
    inactive = team.clients["owner"].post("/api/v1/chats", {"type": "direct", "member_ids": [str(suspended.user_id)]}, format="json")

    assert foreign.status_code == 400 and inactive.status_code == 400
    assert "member_ids" in foreign.json()["error"]["details"]
    assert Chat.objects.count() == 0


def test_list_has_last_message_and_my_unread_count_in_constant_queries(team, django_assert_max_num_queries):
    owner, member = team.clients["owner"], team.clients["member"]
    chat = direct_chat(owner, team.user("member"))
    send(member, chat["id"], "one")
    send(member, chat["id"], "two")
    group = group_chat(owner, team.user("member"), team.user("admin"))
    send(owner, group["id"], "mine")

    response = owner.get("/api/v1/chats")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and body["page"] == 1
    by_id = {c["id"]: c for c in body["data"]}
    # Most recently active first.
    assert [c["id"] for c in body["data"]] == [group["id"], chat["id"]]
    assert by_id[chat["id"]]["unread_count"] == 2
    assert by_id[chat["id"]]["last_message"]["content"] == "two"
    assert by_id[group["id"]]["unread_count"] == 0  # one's own messages are read
    # given more chats, the number of queries stays the same
    with CaptureQueriesContext(connection) as few:
        owner.get("/api/v1/chats")
    # Read now: every request start empties the connection's query log.
    baseline = len(few.captured_queries)
    for _ in range(6):
        other = group_chat(owner, team.user("admin"), name="more")
        send(team.clients["admin"], other["id"], "hi")
    with django_assert_max_num_queries(baseline):
        many = owner.get("/api/v1/chats?limit=50")
    assert many.json()["total"] == 8
    assert all(c["unread_count"] == 1 for c in many.json()["data"] if c["name"] == "more")


def test_get_a_chat_one_is_not_in_is_404(team):
    chat = direct_chat(team.clients["owner"], team.user("member"))

    response = team.clients["admin"].get(f"/api/v1/chats/{chat['id']}")

    assert response.status_code == 404 and code_of(response) == "NOT_FOUND"
    assert team.clients["member"].get(f"/api/v1/chats/{chat['id']}").status_code == 200


def test_update_group_by_its_admin_only(team):
    chat = group_chat(team.clients["member"], team.user("admin"))

    by_member = team.clients["admin"].patch(f"/api/v1/chats/{chat['id']}", {"name": "Nope"}, format="json")
    by_admin = team.clients["member"].put(f"/api/v1/chats/{chat['id']}", {"name": "Renamed", "description": "d"}, format="json")

    assert by_member.status_code == 403 and code_of(by_member) == "INSUFFICIENT_PERMISSIONS"
    assert by_admin.status_code == 200
    assert by_admin.json()["name"] == "Renamed" and by_admin.json()["description"] == "d"
    event = AuditEvent.objects.get(action="chat.updated")
    assert event.changes["name"] == ["Team chat", "Renamed"]


def test_a_direct_chat_cannot_be_renamed(team):
    chat = direct_chat(team.clients["owner"], team.user("member"))

    response = team.clients["owner"].patch(f"/api/v1/chats/{chat['id']}", {"name": "x"}, format="json")

    assert response.status_code == 409 and code_of(response) == "CONFLICT"


def test_delete_group_by_admin_and_direct_by_either_member(team):
    group = group_chat(team.clients["owner"], team.user("member"))
    direct = direct_chat(team.clients["owner"], team.user("member"))

    refused = team.clients["member"].delete(f"/api/v1/chats/{group['id']}")
    deleted = team.clients["owner"].delete(f"/api/v1/chats/{group['id']}")
    direct_deleted = team.clients["member"].delete(f"/api/v1/chats/{direct['id']}")

    assert refused.status_code == 403
    assert deleted.status_code == 204 and direct_deleted.status_code == 204
    assert not Chat.objects.exists()
    assert AuditEvent.objects.filter(action="chat.deleted").count() == 2


def test_add_and_remove_members(team, other_team):
    owner = team.clients["owner"]
    chat = group_chat(owner, team.user("member"))

    added = owner.post(f"/api/v1/chats/{chat['id']}/members", {"member_ids": [str(team.user("admin").id), str(team.user("member").id)]}, format="json")
    foreign = owner.post(f"/api/v1/chats/{chat['id']}/members", {"member_ids": [str(other_team.user("member").id)]}, format="json")
    by_non_admin = team.clients["member"].post(f"/api/v1/chats/{chat['id']}/members", {"member_ids": [str(team.user("viewer").id)]}, format="json")
    removed = owner.delete(f"/api/v1/chats/{chat['id']}/members/{team.user('member').id}")
    missing = owner.delete(f"/api/v1/chats/{chat['id']}/members/{team.user('viewer').id}")

    assert added.status_code == 200
    assert added.json()["added"] == [str(team.user("admin").id)]
    assert len(added.json()["chat"]["members"]) == 3
    assert foreign.status_code == 400 and code_of(foreign) == "VALIDATION_ERROR"
    assert by_non_admin.status_code == 403
    assert removed.status_code == 204 and missing.status_code == 404
    assert team.clients["member"].get(f"/api/v1/chats/{chat['id']}").status_code == 404
    assert AuditEvent.objects.filter(action="chat.member_added", metadata__user_id=str(team.user("admin").id)).exists()
    assert AuditEvent.objects.filter(action="chat.member_removed", metadata__user_id=str(team.user("member").id)).exists()
    assert not ChatMember.objects.filter(chat_id=chat["id"], user__in=[other_team.user("member")]).exists()


def test_direct_chat_members_cannot_change(team):
    chat = direct_chat(team.clients["owner"], team.user("member"))

    add = team.clients["owner"].post(f"/api/v1/chats/{chat['id']}/members", {"member_ids": [str(team.user("admin").id)]}, format="json")
    leave = team.clients["owner"].post(f"/api/v1/chats/{chat['id']}/leave")

    assert add.status_code == 409 and leave.status_code == 409


def test_leave_hands_admin_on_and_the_last_one_out_deletes(team):
    chat = group_chat(team.clients["owner"], team.user("member"))

    left = team.clients["owner"].post(f"/api/v1/chats/{chat['id']}/leave")

    assert left.status_code == 204
    assert ChatMember.objects.get(chat_id=chat["id"]).role == "admin"  # the member took over
    assert AuditEvent.objects.filter(action="chat.member_left").exists()
    assert team.clients["member"].post(f"/api/v1/chats/{chat['id']}/leave").status_code == 204
    assert not Chat.objects.filter(id=chat["id"]).exists()
    assert AuditEvent.objects.filter(action="chat.deleted", target_id=chat["id"]).exists()


def test_viewer_reads_but_cannot_write(team):
    chat = group_chat(team.clients["owner"], team.user("viewer"))
    message = send(team.clients["owner"], chat["id"])
    viewer = team.clients["viewer"]

    assert viewer.get("/api/v1/chats").status_code == 200
    assert viewer.get(f"/api/v1/chats/{chat['id']}/messages").status_code == 200
    read = viewer.post(f"/api/v1/chats/{chat['id']}/read", {"message_id": message["id"]}, format="json")
    assert read.status_code == 200 and read.json()["unread_count"] == 0
    create = viewer.post("/api/v1/chats", {"type": "direct", "member_ids": [str(team.user("owner").id)]}, format="json")
    post = viewer.post(f"/api/v1/chats/{chat['id']}/messages", {"content": "hi"}, format="json")
    assert create.status_code == 403 and post.status_code == 403
    assert code_of(post) == "INSUFFICIENT_PERMISSIONS"
    assert viewer.post(f"/api/v1/chats/{chat['id']}/leave").status_code == 204


def test_org_context_from_the_x_org_id_header(team, other_team):
    # The owner of org A is also a member of org B: X-Org-ID picks org B over the token's org A.
    from organizations.tests.factories import MembershipFactory

    MembershipFactory(organization=other_team.organization, user=team.user("owner"), role="member")
    group_chat(team.clients["owner"], team.user("member"))

    in_b = team.clients["owner"].get("/api/v1/chats", HTTP_X_ORG_ID=str(other_team.organization.id))
    in_a = team.clients["owner"].get("/api/v1/chats")

    assert in_b.status_code == 200 and in_b.json()["total"] == 0
    assert in_a.json()["total"] == 1


def test_api_keys_cannot_use_messaging(team):
    from rest_framework.test import APIClient

    created = team.clients["owner"].post(f"/api/v1/orgs/{team.organization.id}/api-keys", {"name": "k", "scopes": ["messaging:read"]}, format="json")
    assert created.status_code == 201, created.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created.json()['secret']}")

    response = client.get("/api/v1/chats")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
