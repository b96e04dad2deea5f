"""PostgreSQL only: one refresh token presented by several clients at once."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import UserSession
from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from conftest import login_tokens
from core.testing import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
REFRESH = "/api/v1/auth/refresh"


@pytest.fixture(autouse=True)
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (concurrent transactions)")


def test_concurrent_refresh_with_one_token_has_one_winner_and_revokes_the_session():
    # given a signed-in user whose refresh token leaked to three more clients
    user = UserFactory()
    tokens = login_tokens(APIClient(), user.email)

    # when all four present it at the same moment
    responses = run_together(4, lambda i: APIClient().post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json"))

    # then exactly one rotation succeeds, every other use is refused as reuse ...
    statuses = sorted(getattr(response, "status_code", response) for response in responses)
    assert statuses == [200, 401, 401, 401]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 401} == {"TOKEN_INVALID"}
    # ... and the reuse revoked the session, so even the winner's new tokens are dead
    session = UserSession.objects.get(user=user)
    assert session.revoked_reason == "refresh_reuse"
    winner = next(r for r in responses if r.status_code == 200).json()
    assert APIClient().post(REFRESH, {"refresh_token": winner["refresh_token"]}, format="json").status_code == 401
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {winner['access_token']}")
    assert me.get("/api/v1/users/me").status_code == 401
    assert AuditEvent.objects.filter(action="session.revoked", target_id=str(session.id)).count() == 1
