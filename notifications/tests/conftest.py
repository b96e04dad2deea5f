import pytest

from core import entitlements, hooks


@pytest.fixture(autouse=True)
def _unlimited_plan(monkeypatch):
    """Plan limits are the billing app's business: here every org has room for invitations."""
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: None)


@pytest.fixture(autouse=True)
def _no_live_delivery(monkeypatch):
    """The app alone: no WebSocket push registered (test_services checks the hook on its own)."""
    monkeypatch.setattr(hooks.notification_created, "providers", ())


def code_of(response) -> str:
    return response.json()["error"]["code"]
