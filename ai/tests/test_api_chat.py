"""AI chat API against a local fake OpenAI-compatible server: chat, models, usage, conversations."""

import logging

import pytest
from rest_framework.test import APIClient

from ai.models import Conversation, Message
from ai.tests import fake_openai as fake
from ai.tests.conftest import API_KEY
from audit.models import AuditEvent
from billing.models import Plan
from conftest import client_for
from core import entitlements
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/ai"


def chat(client, message="Hello", **fields):
    return client.post(f"{URL}/chat", {"message": message, **fields}, format="json")


def usage(client) -> dict:
    response = client.get(f"{URL}/usage")
    assert response.status_code == 200, response.content
    return response.json()


# --- models and configuration ----------------------------------------------------------------


def test_models_lists_the_configured_models_with_the_default(ai_on, team):
    _, _, clients = team

    response = clients["member"].get(f"{URL}/models")

    assert response.status_code == 200
    assert response.json() == {"data": [{"id": "fake-small", "default": True}, {"id": "fake-large", "default": False}]}


def test_without_a_provider_the_ai_routes_answer_503_and_usage_still_works(ai_off, team):
    _, _, clients = team
    client = clients["member"]

    for response in (client.get(f"{URL}/models"), chat(client), client.post(f"{URL}/chat/stream", {"message": "hi"}, format="json")):
        assert response.status_code == 503
        assert response.json()["error"]["details"]["reason"] == "ai_not_configured"
    assert usage(client)["used"] == 0
    assert not Message.objects.exists()


# --- chat ------------------------------------------------------------------------------------


def test_chat_starts_a_conversation_then_continues_it_with_its_history(ai_on, team):
    organization, members, clients = team
    client = clients["member"]

    # when: a first message
    first = chat(client, "What is 2+2?")

    # then: the reply, a new conversation holding both messages, the key sent as a Bearer token
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["message"]["role"] == "assistant"
    assert body["message"]["content"] == "You said: What is 2+2?"
    assert body["message"]["status"] == "complete"
    assert body["message"]["model"] == "fake-small"
    conversation = Conversation.objects.get(id=body["conversation_id"])
    assert conversation.organization_id == organization.id
    assert conversation.user_id == members["member"].user_id
    assert conversation.title == "What is 2+2?"
    sent = ai_on.requests[-1]
    assert sent["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert sent["body"] == {"model": "fake-small", "messages": [{"role": "user", "content": "What is 2+2?"}], "stream": False}

    # when: a follow-up in the same conversation, with the other model
    second = chat(client, "And 3+3?", conversation_id=body["conversation_id"], model="fake-large")

    # then: the provider got the whole history, the conversation has four messages
    assert second.status_code == 200, second.content
    assert second.json()["conversation_id"] == body["conversation_id"]
    assert ai_on.requests[-1]["body"]["model"] == "fake-large"
    assert ai_on.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "You said: What is 2+2?"},
        {"role": "user", "content": "And 3+3?"},
    ]
    detail = client.get(f"{URL}/conversations/{body['conversation_id']}").json()
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "What is 2+2?"),
        ("assistant", "You said: What is 2+2?"),
        ("user", "And 3+3?"),
        ("assistant", "You said: And 3+3?"),
    ]
    assert detail["model"] == "fake-large"
    assert usage(client)["used"] == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "hi", "model": "gpt-9"}, "model"),
        ({"message": "hi", "conversation_id": "not-a-uuid"}, "conversation_id"),
    ],
)
def test_chat_refuses_bad_input_without_calling_the_provider(ai_on, team, body, field):
    _, _, clients = team

    response = clients["member"].post(f"{URL}/chat", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]
    assert ai_on.requests == []
    assert usage(clients["member"])["used"] == 0


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_provider_error_status_is_a_502_and_the_request_is_given_back(ai_on, team, caplog, status):
    _, _, clients = team
    ai_on.mode, ai_on.status = fake.STATUS, status

    with caplog.at_level(logging.WARNING):
        response = chat(clients["member"])

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["details"]["reason"] == "provider_error"
    assert error["details"]["provider_status"] == status
    conversation = Conversation.objects.get(id=error["details"]["conversation_id"])
    assert [(m.role, m.status, m.content) for m in conversation.messages.all()] == [
        ("user", "complete", "Hello"),
        ("assistant", "failed", ""),
    ]
    assert usage(clients["member"])["used"] == 0
    # The provider echoed the key in its error body: neither the client nor the logs see it.
    assert API_KEY not in response.content.decode()
    assert API_KEY not in caplog.text
    assert "provider says no (Bearer ***)" in caplog.text


def test_provider_timeout_is_a_504_and_the_request_is_given_back(ai_on, team, settings):
    _, _, clients = team
    settings.AI_TIMEOUT_SECONDS = 0.3
    ai_on.mode = fake.SILENT

    response = chat(clients["member"])

    assert response.status_code == 504
    assert response.json()["error"]["details"]["reason"] == "provider_timeout"
    assert usage(clients["member"])["used"] == 0


def test_unreachable_provider_is_a_502(ai_on, team, settings):
    _, _, clients = team
    ai_on.stop()

    response = chat(clients["member"])

    assert response.status_code == 502
    assert response.json()["error"]["details"]["reason"] == "provider_error"
    assert "provider_status" not in response.json()["error"]["details"]


def test_malformed_completion_is_a_502(ai_on, team):
    _, _, clients = team
    ai_on.mode = fake.MALFORMED

    response = chat(clients["member"])

    assert response.status_code == 502
    assert response.json()["error"]["details"]["reason"] == "provider_error"


# --- metering --------------------------------------------------------------------------------


def test_exhausted_allowance_is_402_and_the_provider_is_not_called(ai_on, team):
    organization, _, clients = team
    client = clients["member"]
    Plan.objects.filter(code="free").update(ai_requests_per_month=1)
    assert chat(client).status_code == 200
    calls = len(ai_on.requests)

    for response in (chat(client, "again"), client.post(f"{URL}/chat/stream", {"message": "again"}, format="json")):
        assert response.status_code == 402
        error = response.json()["error"]
        assert error["code"] == "PLAN_LIMIT_REACHED"
        assert error["details"]["limit"] == 1
    assert len(ai_on.requests) == calls
    assert Message.objects.filter(role=Message.Role.USER).count() == 1
    assert usage(client) == {"used": 1, "limit": 1, "remaining": 0, "period_start": usage(client)["period_start"]}
    # billing's own usage report counts the same requests
    billing_usage = clients["owner"].get("/api/v1/billing/usage")
    assert billing_usage.status_code == 200
    assert billing_usage.json()["ai_requests"] == {"used": 1, "limit": 1}


def test_without_billing_ai_is_unlimited(ai_on, team, monkeypatch):
    _, _, clients = team
    client = clients["member"]
    Plan.objects.filter(code="free").update(ai_requests_per_month=0)
    for hook in (entitlements.entitlement_limit, entitlements.usage_consume, entitlements.usage_release, entitlements.usage_used):
        monkeypatch.setattr(hook, "provider", None)

    assert chat(client).status_code == 200
    assert chat(client).status_code == 200

    assert usage(client)["used"] == 2
    assert usage(client)["limit"] is None
    assert usage(client)["remaining"] is None


# --- permissions and tenancy -----------------------------------------------------------------


def test_roles_viewer_cannot_chat_member_admin_owner_can(ai_on, team):
    _, _, clients = team

    refused = chat(clients["viewer"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    for role in ("member", "admin", "owner"):
        assert chat(clients[role]).status_code == 200, role


def test_api_keys_cannot_chat_even_with_the_scope(ai_on, team):
    organization, _, clients = team
    created = clients["owner"].post(f"/api/v1/orgs/{organization.id}/api-keys", {"name": "bot", "scopes": ["ai:use"]}, format="json")
    assert created.status_code == 201, created.content
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created.json()['secret']}")

    response = chat(key_client)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert ai_on.requests == []


def test_conversations_are_private_to_their_user_and_org(ai_on, team):
    organization, members, clients = team
    mine = chat(clients["member"], "secret plans").json()["conversation_id"]
    # another member of the same org
    colleague = clients["admin"]
    # a member of another org, who is also a member of ours in the header test below
    other_org = OrganizationFactory()
    outsider_membership = MembershipFactory(organization=other_org, role="owner")
    outsider = client_for(outsider_membership.user, other_org)

    for client in (colleague, outsider):
        assert client.get(f"{URL}/conversations/{mine}").status_code == 404
        assert client.delete(f"{URL}/conversations/{mine}").status_code == 404
        response = chat(client, "let me in", conversation_id=mine)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
        assert client.get(f"{URL}/conversations").json()["total"] == 0
    assert Conversation.objects.get(id=mine).messages.count() == 2

    # naming our org in the header does not help a non-member
    refused = outsider.get(f"{URL}/conversations", HTTP_X_ORG_ID=str(organization.id))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INVALID_ORG_CONTEXT"


def test_the_same_user_sees_per_org_conversations(ai_on, team):
    organization, members, clients = team
    user = members["member"].user
    second_org = OrganizationFactory()
    MembershipFactory(organization=second_org, user=user, role="member")
    client = clients["member"]
    chat(client, "in the first org")

    listing = client.get(f"{URL}/conversations", HTTP_X_ORG_ID=str(second_org.id))

    assert listing.status_code == 200
    assert listing.json()["total"] == 0
    assert client.get(f"{URL}/conversations").json()["total"] == 1


def test_anonymous_is_401(ai_on):
    response = APIClient().post(f"{URL}/chat", {"message": "hi"}, format="json")

    assert response.status_code == 401


# --- conversations -----------------------------------------------------------------------------


def test_conversation_list_is_paginated_newest_first_in_constant_queries(ai_on, team, django_assert_max_num_queries):
    _, _, clients = team
    client = clients["member"]
    ids = [chat(client, f"question {n}").json()["conversation_id"] for n in range(3)]

    with django_assert_max_num_queries(12):
        response = client.get(f"{URL}/conversations", {"limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["total_pages"] == 2
    assert [c["id"] for c in body["data"]] == [ids[2], ids[1]]
    assert set(body["data"][0]) == {"id", "title", "model", "created_at", "updated_at"}


def test_delete_conversation_removes_its_messages_and_is_audited(ai_on, team):
    organization, members, clients = team
    conversation_id = chat(clients["member"], "forget me").json()["conversation_id"]

    response = clients["member"].delete(f"{URL}/conversations/{conversation_id}")

    assert response.status_code == 204
    assert not Conversation.objects.filter(id=conversation_id).exists()
    assert not Message.objects.filter(conversation_id=conversation_id).exists()
    event = AuditEvent.objects.get(action="ai_conversation.deleted")
    assert event.organization_id == organization.id
    assert event.actor_id == members["member"].user_id
    assert event.target_id == conversation_id
    # the chat itself wrote no audit event (private content, metered elsewhere)
    assert not AuditEvent.objects.filter(action__startswith="ai_").exclude(action="ai_conversation.deleted").exists()


def test_user_export_holds_the_conversations(ai_on, team):
    from accounts.selectors import user_export  # noqa: PLC0415

    _, members, clients = team
    chat(clients["member"], "export this")

    exported = user_export(user=members["member"].user)

    conversations = exported["ai_conversations"]
    assert [m["content"] for m in conversations[0]["messages"]] == ["export this", "You said: export this"]


def test_giving_back_never_takes_the_count_below_zero(team):
    organization, _, _ = team

    entitlements.consume(organization, "ai_requests")
    entitlements.release(organization, "ai_requests")
    entitlements.release(organization, "ai_requests")

    assert entitlements.used(organization, "ai_requests") == 0
