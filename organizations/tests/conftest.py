"""Fixtures shared by the organizations tests."""

import pytest

from conftest import client_for


@pytest.fixture
def org(org_factory):
    """An org with one member of each built-in role: (org, {role: membership})."""
    return org_factory(roles=("owner", "admin", "member", "viewer"))


@pytest.fixture
def admin_client(org):
    """A client signed in as the org's admin, with the org active."""
    organization, members = org
    return client_for(members["admin"].user, organization)
