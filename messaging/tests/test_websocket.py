"""The WebSocket endpoint through Channels' WebsocketCommunicator: authentication and org membership
at the handshake, live events to the right members only, signalling relay, notification:new.

Each test drives its async scenario with asgiref's `async_to_sync`: the consumer's database work
then runs on the test's own thread and connection. Transactional tests: what the consumer changes
commits for real, so its on-commit publishing runs as in production.
"""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from config.asgi import application
from core import clock
from messaging.tests.conftest import direct_chat, group_chat, send

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 2
QUIET = 0.2
# How long a handshake's immediate close may take to arrive after the accept.
REFUSAL_WAIT = 0.1


def token_of(team, role) -> str:
    return team.clients[role].tokens["access_token"]


async def connect(token, org=None, *, via="subprotocol"):
    """Open a socket; return (communicator, connected, subprotocol or close code)."""
    query = f"?org={org}" if org else ""
    if via == "subprotocol":
        communicator = WebsocketCommunicator(application, f"/ws{query}", subprotocols=["bearer", token])
    else:
        communicator = WebsocketCommunicator(application, f"/ws{query}{'&' if query else '?'}token={token}")
    connected, detail = await communicator.connect(timeout=WAIT)
    # A refusal is an accepted handshake closed at once with its code (messaging/consumers.py).
    if connected and not await communicator.receive_nothing(timeout=REFUSAL_WAIT):
        output = await communicator.receive_output(timeout=WAIT)
        assert output["type"] == "websocket.close", output
        return communicator, False, output["code"]
    return communicator, connected, detail


async def open_for(team, role):
    communicator, connected, detail = await connect(token_of(team, role), team.organization.id)
    assert connected, detail
    return communicator


def run(scenario):
    async_to_sync(scenario)()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a sync callable with its on-commit callbacks (the publishing) executed, from async code."""

    def call(func, *args, **kwargs):
        def inner():
            with django_capture_on_commit_callbacks(execute=True):
                return func(*args, **kwargs)

        return sync_to_async(inner)()

    return call


# --- handshake ----------------------------------------------------------------------------------


def test_member_connects_with_the_bearer_subprotocol_or_the_token_parameter(team):
    async def scenario():
        first, connected, subprotocol = await connect(token_of(team, "member"), team.organization.id)
        assert connected and subprotocol == "bearer"
        await first.send_json_to({"type": "ping", "ref": "1"})
        assert await first.receive_json_from(timeout=WAIT) == {"type": "pong", "ref": "1"}
        await first.disconnect()
        # no org parameter: the token's org_id claim
        second, connected, _ = await connect(token_of(team, "viewer"), via="query")
        assert connected
        await second.disconnect()

    run(scenario)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.e30.bad-signature"])
def test_bad_token_is_refused(team, token):
    async def scenario():
        _, connected, code = await connect(token, team.organization.id, via="query")
        assert not connected and code == 4401

    run(scenario)


def test_expired_token_is_refused(team):
    real = AccessToken(token_of(team, "member"))
    expired = AccessToken()
    for claim in ("sub", "sid", "org_id"):
        expired[claim] = real[claim]
    expired.set_exp(from_time=clock.now() - timedelta(hours=1), lifetime=timedelta(minutes=15))

    async def scenario():
        _, connected, code = await connect(str(expired), team.organization.id)
        assert not connected and code == 4401

    run(scenario)


def test_token_of_a_revoked_session_is_refused(team):
    token = token_of(team, "member")
    assert team.clients["member"].post("/api/v1/auth/logout").status_code == 204

    async def scenario():
        _, connected, code = await connect(token, team.organization.id)
        assert not connected and code == 4401

    run(scenario)


def test_non_member_of_the_org_is_refused(team, other_team):
    async def scenario():
        _, connected, code = await connect(token_of(team, "member"), other_team.organization.id)
        assert not connected and code == 4403
        _, connected, code = await connect(token_of(team, "member"), "not-a-uuid")
        assert not connected and code == 4403

    run(scenario)


def test_suspended_member_is_refused(team):
    from organizations.context import context_forget
    from organizations.models import Membership

    Membership.objects.filter(pk=team.members["member"].pk).update(status=Membership.Status.SUSPENDED)
    # update() skips the signals that drop the cached membership (as a suspension through the API does).
    context_forget(organization_id=team.organization.id, user_id=team.members["member"].user_id)

    async def scenario():
        _, connected, code = await connect(token_of(team, "member"), team.organization.id)
        assert not connected and code == 4403

    run(scenario)


# --- events ---------------------------------------------------------------------------------------


def test_message_sent_by_rest_reaches_the_chat_members_only(team, other_team, committed):
    chat = group_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        member = await open_for(team, "member")
        owner = await open_for(team, "owner")
        outsider = await open_for(team, "admin")  # same org, not in the chat
        foreigner = await open_for(other_team, "owner")  # another org

        message = await committed(send, team.clients["owner"], chat["id"], "hello")

        for socket in (member, owner):
            event = await socket.receive_json_from(timeout=WAIT)
            assert event["type"] == "message:new"
            assert event["data"]["message"]["id"] == message["id"]
            assert event["data"]["message"]["content"] == "hello"
            assert event["data"]["message"]["chat_id"] == chat["id"]
        assert await outsider.receive_nothing(timeout=QUIET)
        assert await foreigner.receive_nothing(timeout=QUIET)

        edited = await committed(team.clients["owner"].patch, f"/api/v1/chats/{chat['id']}/messages/{message['id']}", {"content": "hi"}, format="json")
        assert edited.status_code == 200
        assert (await member.receive_json_from(timeout=WAIT))["type"] == "message:updated"
        await committed(team.clients["owner"].delete, f"/api/v1/chats/{chat['id']}/messages/{message['id']}")
        deleted = await member.receive_json_from(timeout=WAIT)
        assert deleted == {"type": "message:deleted", "data": {"message_id": message["id"], "chat_id": chat["id"], "seq": 1}}
        assert await foreigner.receive_nothing(timeout=QUIET)
        for socket in (member, owner, outsider, foreigner):
            await socket.disconnect()

    run(scenario)


def test_a_member_added_later_gets_the_chat_events_and_a_removed_one_stops(team, committed):
    chat = group_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        admin = await open_for(team, "admin")
        added = await committed(team.clients["owner"].post, f"/api/v1/chats/{chat['id']}/members", {"member_ids": [str(team.user("admin").id)]}, format="json")
        assert added.status_code == 200
        joined = await admin.receive_json_from(timeout=WAIT)
        assert joined["type"] == "chat:member_added" and joined["data"]["chat"]["id"] == chat["id"]

        await committed(send, team.clients["member"], chat["id"], "welcome")
        assert (await admin.receive_json_from(timeout=WAIT))["type"] == "message:new"

        await committed(team.clients["owner"].delete, f"/api/v1/chats/{chat['id']}/members/{team.user('admin').id}")
        removed = await admin.receive_json_from(timeout=WAIT)
        assert removed["type"] == "chat:member_removed" and removed["data"]["user_id"] == str(team.user("admin").id)
        await committed(send, team.clients["member"], chat["id"], "after")
        assert await admin.receive_nothing(timeout=QUIET)
        await admin.disconnect()

    run(scenario)


def test_message_send_over_the_socket(team, committed):
    chat = direct_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        owner = await open_for(team, "owner")
        member = await open_for(team, "member")
        viewer = await open_for(team, "viewer")

        await owner.send_json_to({"type": "message:send", "chat_id": chat["id"], "content": "over the socket", "ref": "r1"})
        for socket in (member, owner):  # the sender's own sockets get it too
            event = await socket.receive_json_from(timeout=WAIT)
            assert event["type"] == "message:new" and event["data"]["message"]["content"] == "over the socket"

        await viewer.send_json_to({"type": "message:send", "chat_id": chat["id"], "content": "x", "ref": "r2"})
        error = await viewer.receive_json_from(timeout=WAIT)
        assert error["type"] == "error" and error["ref"] == "r2" and error["data"]["code"] == "INSUFFICIENT_PERMISSIONS"
        await owner.send_json_to({"type": "nonsense"})
        assert (await owner.receive_json_from(timeout=WAIT))["data"]["code"] == "VALIDATION_ERROR"
        for socket in (owner, member, viewer):
            await socket.disconnect()

    run(scenario)


# --- calls and signalling ---------------------------------------------------------------------------


def test_call_events_and_signalling_reach_the_callee_only(team, other_team, committed):
    chat = direct_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        caller = await open_for(team, "owner")
        callee = await open_for(team, "member")
        bystander = await open_for(team, "admin")
        foreigner = await open_for(other_team, "owner")

        started = await committed(team.clients["owner"].post, f"/api/v1/calls/chats/{chat['id']}", {"call_type": "video"}, format="json")
        call_id = started.json()["id"]
        incoming = await callee.receive_json_from(timeout=WAIT)
        assert incoming["type"] == "call:incoming"
        assert incoming["data"]["call"]["id"] == call_id and incoming["data"]["from_user_id"] == str(team.user("owner").id)
        assert await caller.receive_nothing(timeout=QUIET)

        await caller.send_json_to({"type": "call:offer", "call_id": call_id, "sdp": {"type": "offer", "sdp": "v=0..."}})
        offer = await callee.receive_json_from(timeout=WAIT)
        assert offer == {
            "type": "call:offer",
            "data": {"call_id": call_id, "from_user_id": str(team.user("owner").id), "sdp": {"type": "offer", "sdp": "v=0..."}},
        }

        await committed(team.clients["member"].post, f"/api/v1/calls/{call_id}/join")
        answered = await caller.receive_json_from(timeout=WAIT)
        assert answered["type"] == "call:answered" and answered["data"]["user_id"] == str(team.user("member").id)

        await callee.send_json_to({"type": "call:answer", "call_id": call_id, "sdp": {"type": "answer", "sdp": "v=0..."}})
        assert (await caller.receive_json_from(timeout=WAIT))["type"] == "call:answer"
        await callee.send_json_to(
            {"type": "call:ice-candidate", "call_id": call_id, "candidate": {"candidate": "candidate:1 1 udp"}, "to_user_id": str(team.user("owner").id)}
        )
        ice = await caller.receive_json_from(timeout=WAIT)
        assert ice["type"] == "call:ice-candidate" and ice["data"]["candidate"] == {"candidate": "candidate:1 1 udp"}
        assert await callee.receive_nothing(timeout=QUIET)

        # someone not in the call cannot signal into it
        await bystander.send_json_to({"type": "call:offer", "call_id": call_id, "sdp": {}})
        refused = await bystander.receive_json_from(timeout=WAIT)
        assert refused["type"] == "error" and refused["data"]["code"] == "NOT_FOUND"

        await callee.send_json_to({"type": "call:end", "call_id": call_id})
        for socket in (caller, callee):
            ended = await socket.receive_json_from(timeout=WAIT)
            assert ended["type"] == "call:ended" and ended["data"]["reason"] == "ended"
        assert await bystander.receive_nothing(timeout=QUIET)
        assert await foreigner.receive_nothing(timeout=QUIET)
        for socket in (caller, callee, bystander, foreigner):
            await socket.disconnect()

    run(scenario)


def test_reject_over_the_socket_tells_the_caller(team, committed):
    chat = direct_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        caller = await open_for(team, "owner")
        callee = await open_for(team, "member")
        started = await committed(team.clients["owner"].post, f"/api/v1/calls/chats/{chat['id']}", {"call_type": "audio"}, format="json")
        call_id = started.json()["id"]
        await callee.receive_json_from(timeout=WAIT)  # call:incoming

        await callee.send_json_to({"type": "call:reject", "call_id": call_id})

        reject = await caller.receive_json_from(timeout=WAIT)
        assert reject == {"type": "call:reject", "data": {"call_id": call_id, "from_user_id": str(team.user("member").id)}}
        ended = await caller.receive_json_from(timeout=WAIT)
        assert ended["type"] == "call:ended" and ended["data"]["reason"] == "rejected"
        await caller.disconnect()
        await callee.disconnect()

    run(scenario)


# --- notifications ------------------------------------------------------------------------------------


def test_notification_new_is_delivered_to_its_user(team, other_team, committed):
    async def scenario():
        viewer = await open_for(team, "viewer")
        member = await open_for(team, "member")
        foreigner = await open_for(other_team, "member")

        # a real flow: the owner changes the viewer's role, the notifications app tells them
        changed = await committed(
            team.clients["owner"].patch, f"/api/v1/orgs/{team.organization.id}/members/{team.user('viewer').id}", {"role": "member"}, format="json"
        )
        assert changed.status_code == 200, changed.content

        event = await viewer.receive_json_from(timeout=WAIT)
        assert event["type"] == "notification:new"
        notification = event["data"]["notification"]
        assert notification["event"] == "role_changed"
        assert notification["organization_id"] == str(team.organization.id) and notification["read"] is False
        assert await member.receive_nothing(timeout=QUIET)
        assert await foreigner.receive_nothing(timeout=QUIET)
        for socket in (viewer, member, foreigner):
            await socket.disconnect()

    run(scenario)


# --- long-lived sockets ---------------------------------------------------------------------------------


def test_a_socket_whose_session_is_revoked_is_closed_at_its_next_event(team, committed, monkeypatch):
    from messaging import consumers

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    chat = direct_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        member = await open_for(team, "member")
        await committed(send, team.clients["owner"], chat["id"], "before")
        assert (await member.receive_json_from(timeout=WAIT))["type"] == "message:new"

        assert (await committed(team.clients["member"].post, "/api/v1/auth/logout")).status_code == 204
        await committed(send, team.clients["owner"], chat["id"], "after")

        closed = await member.receive_output(timeout=WAIT)
        assert closed == {"type": "websocket.close", "code": 4401}

    run(scenario)


def test_a_removed_org_member_is_cut_off(team, committed, monkeypatch):
    from messaging import consumers

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    chat = direct_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        member = await open_for(team, "member")
        removed = await committed(team.clients["owner"].delete, f"/api/v1/orgs/{team.organization.id}/members/{team.user('member').id}")
        assert removed.status_code == 204, removed.content
        await committed(send, team.clients["owner"], chat["id"], "secret after removal")

        output = await member.receive_output(timeout=WAIT)
        assert output == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_an_open_socket_without_mfa_is_closed_once_the_org_requires_mfa(team, committed, monkeypatch):
    """`require_mfa` switched on while a password-only session has a socket open: cut off at the next event."""
    from messaging import consumers
    from organizations.models import Organization

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    chat = direct_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        member = await open_for(team, "member")
        await committed(lambda: Organization.objects.filter(id=team.organization.id).update(settings={"require_mfa": True}))
        await committed(send, team.clients["owner"], chat["id"], "after the org required MFA")

        output = await member.receive_output(timeout=WAIT)
        assert output == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_bad_frames_get_an_error_event_and_the_socket_stays_open(team):
    async def scenario():
        socket = await open_for(team, "member")
        await socket.send_to(bytes_data=b"\x00\x01")
        assert (await socket.receive_json_from(timeout=WAIT))["data"]["code"] == "VALIDATION_ERROR"
        await socket.send_to(text_data="{not json")
        assert (await socket.receive_json_from(timeout=WAIT))["data"]["code"] == "VALIDATION_ERROR"
        await socket.send_json_to({"type": "call:offer", "call_id": "nope"})
        error = await socket.receive_json_from(timeout=WAIT)
        assert error["data"]["code"] == "VALIDATION_ERROR" and "call_id" in error["data"]["details"]
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from(timeout=WAIT))["type"] == "pong"
        await socket.disconnect()

    run(scenario)


def test_a_flood_of_client_messages_is_refused(team, monkeypatch):
    from messaging import consumers

    monkeypatch.setattr(consumers, "RATE_LIMIT_MESSAGES", 2)

    async def scenario():
        socket = await open_for(team, "member")
        for _ in range(3):
            await socket.send_json_to({"type": "ping"})
        replies = [await socket.receive_json_from(timeout=WAIT) for _ in range(3)]
        assert [r["type"] for r in replies] == ["pong", "pong", "error"]
        assert replies[2]["data"]["code"] == "RATE_LIMIT_EXCEEDED"
        await socket.disconnect()

    run(scenario)


def test_write_permission_follows_a_role_change_on_the_next_check(team, committed, monkeypatch):
    from messaging import consumers

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0)
    chat = group_chat(team.clients["owner"], team.user("viewer"))

    async def scenario():
        viewer = await open_for(team, "viewer")
        await viewer.send_json_to({"type": "message:send", "chat_id": chat["id"], "content": "x"})
        assert (await viewer.receive_json_from(timeout=WAIT))["data"]["code"] == "INSUFFICIENT_PERMISSIONS"

        promoted = await committed(
            team.clients["owner"].patch, f"/api/v1/orgs/{team.organization.id}/members/{team.user('viewer').id}", {"role": "member"}, format="json"
        )
        assert promoted.status_code == 200
        assert (await viewer.receive_json_from(timeout=WAIT))["type"] == "notification:new"
        await viewer.send_json_to({"type": "message:send", "chat_id": chat["id"], "content": "now I may"})
        event = await viewer.receive_json_from(timeout=WAIT)
        assert event["type"] == "message:new" and event["data"]["message"]["content"] == "now I may"
        await viewer.disconnect()

    run(scenario)


def test_a_deny_policy_on_messaging_read_refuses_the_socket(team):
    from organizations.services import authz_revision_bump
    from permissions.models import Policy

    Policy.objects.create(
        organization=team.organization, name="no chat for viewers", effect="deny", permissions=["messaging:read"], subjects={"roles": ["viewer"]}
    )
    # As the policy service does: the tokens' sign-ins cached the org context at the old revision.
    authz_revision_bump(organization=team.organization)

    async def scenario():
        _, connected, code = await connect(token_of(team, "viewer"), team.organization.id)
        assert not connected and code == 4403
        member, connected, _ = await connect(token_of(team, "member"), team.organization.id)
        assert connected
        await member.disconnect()

    run(scenario)
