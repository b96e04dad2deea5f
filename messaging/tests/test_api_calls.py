"""Calls API: start (one live call per chat), active call, join, media state, leave, end, reject."""

import pytest

from audit.models import AuditEvent
from messaging.models import Call
from messaging.tests.conftest import code_of, direct_chat, group_chat

pytestmark = pytest.mark.django_db


@pytest.fixture
def direct(team):
    return direct_chat(team.clients["owner"], team.user("member"))


def start(client, chat_id, call_type="video"):
    return client.post(f"/api/v1/calls/chats/{chat_id}", {"call_type": call_type}, format="json")


def test_start_rings_the_others_and_only_one_call_lives_per_chat(team, direct):
    started = start(team.clients["owner"], direct["id"])
    again = start(team.clients["member"], direct["id"], "audio")

    assert started.status_code == 201
    call = started.json()
    assert call["status"] == "ringing" and call["call_type"] == "video" and call["chat_id"] == direct["id"]
    states = {p["user_id"]: p["state"] for p in call["participants"]}
    assert states == {str(team.user("owner").id): "joined", str(team.user("member").id): "invited"}
    assert again.status_code == 409 and again.json()["error"]["details"]["call_id"] == [call["id"]]
    assert AuditEvent.objects.filter(action="call.started", target_id=call["id"]).exists()


def test_bad_call_type_is_400(team, direct):
    response = start(team.clients["owner"], direct["id"], "hologram")

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"


def test_active_join_media_leave(team, direct):
    call = start(team.clients["owner"], direct["id"]).json()
    member = team.clients["member"]

    active = member.get(f"/api/v1/calls/chats/{direct['id']}/active")
    joined = member.post(f"/api/v1/calls/{call['id']}/join")
    media = member.put(f"/api/v1/calls/{call['id']}/media", {"audio_enabled": False, "screen_sharing": True}, format="json")
    detail = team.clients["owner"].get(f"/api/v1/calls/{call['id']}")
    left = member.post(f"/api/v1/calls/{call['id']}/leave")

    assert active.status_code == 200 and active.json()["id"] == call["id"]
    assert joined.status_code == 200 and joined.json()["status"] == "active" and joined.json()["answered_at"]
    assert media.status_code == 200
    assert media.json()["audio_enabled"] is False and media.json()["screen_sharing"] is True and media.json()["video_enabled"] is True
    mine = next(p for p in detail.json()["participants"] if p["user_id"] == str(team.user("member").id))
    assert mine["audio_enabled"] is False
    assert left.status_code == 204
    # one side of a direct call hanging up ends it
    assert Call.objects.get(id=call["id"]).status == "ended"
    assert member.get(f"/api/v1/calls/chats/{direct['id']}/active").status_code == 404
    assert member.post(f"/api/v1/calls/{call['id']}/join").status_code == 409


def test_media_needs_at_least_one_field_and_a_joined_participant(team, direct):
    call = start(team.clients["owner"], direct["id"]).json()

    empty = team.clients["owner"].patch(f"/api/v1/calls/{call['id']}/media", {}, format="json")
    not_joined = team.clients["member"].patch(f"/api/v1/calls/{call['id']}/media", {"audio_enabled": False}, format="json")

    assert empty.status_code == 400
    assert not_joined.status_code == 409


def test_end_ends_for_everyone(team):
    chat = group_chat(team.clients["owner"], team.user("member"), team.user("admin"))
    call = start(team.clients["owner"], chat["id"], "audio").json()
    team.clients["member"].post(f"/api/v1/calls/{call['id']}/join")

    ended = team.clients["member"].post(f"/api/v1/calls/{call['id']}/end")

    assert ended.status_code == 200
    assert ended.json()["status"] == "ended" and ended.json()["end_reason"] == "ended"
    assert all(p["state"] != "joined" for p in ended.json()["participants"])
    assert AuditEvent.objects.filter(action="call.ended", target_id=call["id"]).exists()
    # a new call may start now
    assert start(team.clients["admin"], chat["id"]).status_code == 201


def test_group_call_goes_on_until_the_last_one_leaves(team):
    chat = group_chat(team.clients["owner"], team.user("member"), team.user("admin"))
    call = start(team.clients["owner"], chat["id"], "audio").json()
    team.clients["member"].post(f"/api/v1/calls/{call['id']}/join")

    team.clients["owner"].post(f"/api/v1/calls/{call['id']}/leave")
    assert Call.objects.get(id=call["id"]).status == "active"
    team.clients["member"].post(f"/api/v1/calls/{call['id']}/leave")

    assert Call.objects.get(id=call["id"]).status == "ended"
    assert Call.objects.get(id=call["id"]).end_reason == "completed"


def test_reject_by_everyone_invited_ends_the_call(team, direct):
    call = start(team.clients["owner"], direct["id"]).json()

    rejected = team.clients["member"].post(f"/api/v1/calls/{call['id']}/reject")

    assert rejected.status_code == 200
    assert rejected.json()["status"] == "ended" and rejected.json()["end_reason"] == "rejected"


def test_calls_need_write_and_a_chat_one_is_in(team):
    chat = group_chat(team.clients["owner"], team.user("viewer"))
    other = direct_chat(team.clients["owner"], team.user("member"))
    call = start(team.clients["owner"], chat["id"]).json()

    by_viewer = start(team.clients["viewer"], chat["id"])
    viewer_join = team.clients["viewer"].post(f"/api/v1/calls/{call['id']}/join")
    viewer_reads = team.clients["viewer"].get(f"/api/v1/calls/{call['id']}")
    outsider = team.clients["admin"].post(f"/api/v1/calls/{call['id']}/join")
    outsider_start = start(team.clients["admin"], other["id"])

    assert by_viewer.status_code == 403 and viewer_join.status_code == 403
    assert viewer_reads.status_code == 200
    assert outsider.status_code == 404 and outsider_start.status_code == 404
