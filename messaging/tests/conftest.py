"""Fixtures of the messaging tests: an org with one member per role (signed-in clients), and a second org."""

from dataclasses import dataclass

import pytest
from channels.layers import channel_layers

from conftest import client_for

ROLES = ("owner", "admin", "member", "viewer")


@dataclass
class Team:
    organization: object
    members: dict
    clients: dict

    def user(self, role):
        return self.members[role].user


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets an empty in-memory channel layer (no groups or messages left over)."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def team(org_factory, unlimited_plan):
    """Org A with one member per built-in role and a signed-in client for each."""
    organization, members = org_factory(roles=ROLES)
    return Team(organization, members, {role: client_for(m.user, organization) for role, m in members.items()})


@pytest.fixture
def other_team(org_factory, unlimited_plan):
    """Org B, with its owner and a member, each signed in to org B."""
    organization, members = org_factory(roles=("owner", "member"))
    return Team(organization, members, {role: client_for(m.user, organization) for role, m in members.items()})


def code_of(response) -> str:
    return response.json()["error"]["code"]


def direct_chat(client, other_user) -> dict:
    response = client.post("/api/v1/chats", {"type": "direct", "member_ids": [str(other_user.id)]}, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def group_chat(client, *users, name="Team chat") -> dict:
    response = client.post("/api/v1/chats", {"type": "group", "name": name, "member_ids": [str(u.id) for u in users]}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def send(client, chat_id, content="hello") -> dict:
    response = client.post(f"/api/v1/chats/{chat_id}/messages", {"content": content}, format="json")
    assert response.status_code == 201, response.content
    return response.json()
