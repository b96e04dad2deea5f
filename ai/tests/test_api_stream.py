"""Streaming chat (Server-Sent Events) against the fake provider: chunks, failures, disconnects."""

import json
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.db import connections

from ai.api.sse import AsyncEventStreamBody, EventStreamBody
from ai.models import Conversation, Message
from ai.tests import fake_openai as fake

pytestmark = pytest.mark.django_db

URL = "/api/v1/ai/chat/stream"


def stream(client, message="Tell me a story", headers=None, **fields):
    return client.post(URL, {"message": message, **fields}, format="json", HTTP_ACCEPT="text/event-stream", **(headers or {}))


def events_of(raw: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


def hang_up(response) -> None:
    """What a server does when the client goes away mid-stream: close the response.

    The test's database connection is kept open meanwhile (request_finished would close it
    inside the test transaction), as Django's test client does around its own requests.
    """
    with mock.patch.object(connections["default"], "close_if_unusable_or_obsolete"):
        response.close()


def reply_of(conversation_id) -> Message:
    return Message.objects.get(conversation_id=conversation_id, role=Message.Role.ASSISTANT)


def used(client) -> int:
    return client.get("/api/v1/ai/usage").json()["used"]


def test_stream_sends_each_piece_then_done_and_stores_the_reply(ai_on, team):
    _, _, clients = team
    client = clients["member"]
    ai_on.reply = "Once upon a time"

    response = stream(client)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    conversation_id = response["X-Conversation-ID"]
    events = events_of(b"".join(response.streaming_content))
    assert events[-1] == (None, "[DONE]")
    pieces = [json.loads(data)["content"] for _, data in events[:-1]]
    assert pieces == ["Once ", "upon ", "a ", "time"]
    reply = reply_of(conversation_id)
    assert (reply.content, reply.status) == ("Once upon a time", "complete")
    assert ai_on.requests[-1]["body"]["stream"] is True
    assert used(client) == 1


def test_stream_continues_a_conversation(ai_on, team):
    _, _, clients = team
    client = clients["member"]
    first = stream(client, "one")
    conversation_id = first["X-Conversation-ID"]
    b"".join(first.streaming_content)

    second = stream(client, "two", conversation_id=conversation_id)
    b"".join(second.streaming_content)

    assert second["X-Conversation-ID"] == conversation_id
    assert [m["content"] for m in ai_on.requests[-1]["body"]["messages"]] == ["one", "You said: one", "two"]


@pytest.mark.parametrize("status", [401, 500])
def test_failure_before_the_stream_starts_is_a_json_error(ai_on, team, status):
    _, _, clients = team
    ai_on.mode, ai_on.status = fake.STATUS, status

    response = stream(clients["member"])

    assert response.status_code == 502
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["details"]["reason"] == "provider_error"
    assert used(clients["member"]) == 0


def test_timeout_before_the_stream_starts_is_a_504(ai_on, team, settings):
    _, _, clients = team
    settings.AI_TIMEOUT_SECONDS = 0.3
    ai_on.mode = fake.SILENT

    response = stream(clients["member"])

    assert response.status_code == 504
    assert response.json()["error"]["details"]["reason"] == "provider_timeout"


@pytest.mark.parametrize(
    "mode, reason",
    [
        (fake.ERROR_MID_STREAM, "provider_error"),
        (fake.MALFORMED_CHUNK, "provider_error"),
        (fake.CUT_SHORT, "provider_error"),
        (fake.STALL_MID_STREAM, "provider_timeout"),
    ],
)
def test_failure_mid_stream_sends_an_error_event_and_keeps_the_partial_reply(ai_on, team, settings, mode, reason):
    _, _, clients = team
    client = clients["member"]
    settings.AI_TIMEOUT_SECONDS = 0.5
    ai_on.mode = mode
    ai_on.reply = "one two three four"

    response = stream(client, headers={"HTTP_X_REQUEST_ID": "req-123"})

    assert response.status_code == 200
    events = events_of(b"".join(response.streaming_content))
    assert [json.loads(data)["content"] for _, data in events[:-1]] == ["one ", "two "]
    name, data = events[-1]
    assert name == "error"
    error = json.loads(data)["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE" and error["details"]["reason"] == reason
    assert error["request_id"] == "req-123"
    assert set(error) == {"code", "message", "details", "request_id"}
    assert (None, "[DONE]") not in events
    reply = reply_of(response["X-Conversation-ID"])
    assert (reply.content, reply.status) == ("one two ", "failed")
    # text was delivered: the request stays counted
    assert used(client) == 1


def test_client_disconnect_closes_upstream_and_keeps_the_partial_reply(ai_on, team):
    _, _, clients = team
    client = clients["member"]
    ai_on.pieces = [f"word{n} " for n in range(200)]
    ai_on.chunk_delay = 0.01

    response = stream(client)
    content = iter(response.streaming_content)
    first = next(content)

    # when: the client goes away (the server closes the response)
    hang_up(response)

    assert json.loads(events_of(first)[0][1]) == {"content": "word0 "}
    reply = reply_of(response["X-Conversation-ID"])
    assert (reply.content, reply.status) == ("word0 ", "interrupted")
    # the upstream connection was closed: the provider noticed and stopped sending
    assert ai_on.disconnected.wait(10)
    assert ai_on.chunks_sent < 200
    assert used(client) == 1


def test_client_gone_before_the_first_piece_still_stores_and_closes(ai_on, team):
    _, _, clients = team
    ai_on.pieces = [f"word{n} " for n in range(200)]
    ai_on.chunk_delay = 0.01

    response = stream(clients["member"])
    hang_up(response)

    reply = reply_of(response["X-Conversation-ID"])
    assert (reply.content, reply.status) == ("", "interrupted")
    assert ai_on.disconnected.wait(10)
    assert Conversation.objects.count() == 1


class _Pieces:
    def __init__(self, pieces):
        self._pieces = iter(pieces)
        self.closed = False

    def __iter__(self):
        return self._pieces

    def close(self):
        self.closed = True


def test_async_body_streams_piece_by_piece_for_asgi_servers():
    # given: the body an ASGI server gets (Django would buffer a sync iterator whole there)
    pieces = _Pieces(["a", "b"])
    body = AsyncEventStreamBody(EventStreamBody(pieces, request_id="r"))
    with pytest.raises(TypeError):
        iter(body)

    async def collect():
        return [chunk async for chunk in body]

    # when
    chunks = async_to_sync(collect)()
    body.close()

    # then
    assert chunks == [b'data: {"content":"a"}\n\n', b'data: {"content":"b"}\n\n', b"data: [DONE]\n\n"]
    assert pieces.closed


def test_stream_over_asgi_arrives_as_events_and_stores_the_reply(ai_on, team):
    from django.test import AsyncClient

    _, _, clients = team
    token = clients["member"].tokens["access_token"]

    async def call():
        response = await AsyncClient().post(URL, {"message": "over asgi"}, content_type="application/json", headers={"Authorization": f"Bearer {token}"})
        return response, [chunk async for chunk in response.streaming_content]

    response, chunks = async_to_sync(call)()

    assert response.status_code == 200
    assert response.is_async
    assert events_of(b"".join(chunks))[-1] == (None, "[DONE]")
    assert len(chunks) > 2  # one piece per chunk, not one buffered blob
    reply = reply_of(response["X-Conversation-ID"])
    assert (reply.content, reply.status) == ("You said: over asgi", "complete")
