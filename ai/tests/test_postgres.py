"""PostgreSQL only: metering commits before the provider is called, and concurrent chats never overspend."""

import threading

import pytest
from django.db import close_old_connections, connection

from ai.models import Message
from billing.models import Plan
from conftest import client_for
from core import entitlements

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks and concurrent transactions)")


def test_prompt_and_metered_request_are_committed_before_the_provider_is_called(ai_on, team):
    organization, _, clients = team
    seen = {}

    def look(body):
        # Another connection (the fake's thread) sees only what was committed.
        seen["prompts"] = list(Message.objects.filter(role=Message.Role.USER).values_list("content", flat=True))
        seen["used"] = entitlements.used(organization, "ai_requests")
        close_old_connections()

    ai_on.on_request = look

    response = clients["member"].post("/api/v1/ai/chat", {"message": "committed?"}, format="json")

    assert response.status_code == 200
    assert seen == {"prompts": ["committed?"], "used": 1}


def test_concurrent_chats_never_exceed_the_allowance(ai_on, org_factory):
    organization, members = org_factory(roles=("owner", "member"))
    Plan.objects.filter(code="free").update(ai_requests_per_month=2)
    clients = [client_for(members["member"].user, organization) for _ in range(4)]
    ai_on.chunk_delay = 0.05
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def run(client):
        try:
            barrier.wait()
            statuses.append(client.post("/api/v1/ai/chat", {"message": "race"}, format="json").status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses) == [200, 200, 402, 402]
    assert len(ai_on.requests) == 2
    assert entitlements.used(organization, "ai_requests") == 2
