"""Fixtures of the premium tests: an org with one signed-in client per built-in role, and a way to change its plan."""

import pytest

from billing.tests.conftest import code_of, team  # noqa: F401  (fixture re-exported for these tests)
from billing.tests.test_entitlements import put_on

__all__ = ["code_of", "put_on"]


@pytest.fixture
def on_plan():
    """Put an org on a plan (a manual subscription): `on_plan(organization, "team")`."""
    return put_on
