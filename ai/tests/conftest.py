"""Fixtures of the AI tests: a fake OpenAI-compatible server wired into the settings, and an org."""

import pytest

from ai.tests.fake_openai import FakeOpenAI
from conftest import client_for

API_KEY = "sk-test-secret-key-0123456789"
ROLES = ("owner", "admin", "member", "viewer")


@pytest.fixture
def fake_openai():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def ai_on(settings, fake_openai) -> FakeOpenAI:
    """AI configured against the fake server."""
    settings.AI_BASE_URL = fake_openai.url
    settings.AI_API_KEY = API_KEY
    settings.AI_MODEL = "fake-small"
    settings.AI_MODELS = ["fake-small", "fake-large"]
    settings.AI_TIMEOUT_SECONDS = 5
    return fake_openai


@pytest.fixture
def ai_off(settings):
    settings.AI_BASE_URL = ""
    settings.AI_API_KEY = ""
    settings.AI_MODEL = ""
    settings.AI_MODELS = []


@pytest.fixture
def team(org_factory):
    """An org with one member per built-in role and a signed-in client for each."""
    organization, members = org_factory(roles=ROLES)
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients
