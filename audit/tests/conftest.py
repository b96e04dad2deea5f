"""Fixtures of the audit tests."""

from datetime import UTC, datetime, timedelta

import pytest

from conftest import client_for

ROLES = ("owner", "admin", "member", "viewer")


@pytest.fixture
def team(org_factory):
    """An org with one member per built-in role and a signed-in client for each."""
    organization, members = org_factory(roles=ROLES)
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients


class Clock:
    """A settable `core.clock.now` for tests that travel in time."""

    def __init__(self, start: datetime):
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def frozen_clock(monkeypatch) -> Clock:
    clock = Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    monkeypatch.setattr("core.clock.now", clock)
    return clock


@pytest.fixture
def postgres():
    """Skip unless the tests run on PostgreSQL (the trigger and advisory locks are PostgreSQL's)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@pytest.fixture
def no_plan_retention(monkeypatch):
    """Plans set no audit retention (as with billing absent): the default applies."""
    from core import entitlements

    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: None)
