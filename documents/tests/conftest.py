"""Fixtures of the documents tests: a temporary MEDIA_ROOT and an org with one member per role."""

import pytest

from conftest import client_for

ROLES = ("owner", "admin", "member", "viewer")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test stores files under its own temporary directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def team(org_factory, unlimited_plan):
    """An org with one member per built-in role and a signed-in client for each."""
    organization, members = org_factory(roles=ROLES)
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients
