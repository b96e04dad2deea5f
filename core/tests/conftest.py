"""Fixtures for the core plumbing tests."""

import pytest
from rest_framework.test import APIClient

from accounts import sessions
from core.actor import Actor


@pytest.fixture
def make_session(db):
    """Open a server-side session for a user and return its token pair."""

    def make(user):
        return sessions.session_create(user=user, actor=Actor.for_user(user))

    return make


@pytest.fixture
def bearer_client(make_session):
    """Build a client authenticated with a fresh session's access token."""

    def build(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_session(user).access_token}")
        return client

    return build
