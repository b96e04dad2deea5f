"""Security review s22 (attacker's view) of the internal service API."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.sessions import session_create
from accounts.staff import impersonation_start
from accounts.tests.factories import UserFactory
from core.actor import Actor, Principal


@pytest.fixture
def team(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    return organization, members


def test_validate_token_does_not_pass_an_impersonation_token_off_as_the_user(signed, team):
    # given: a staff member impersonating a member; on our own API that token is held to the
    # impersonation allow-list (accounts/impersonation.py), and audit names the impersonator
    organization, members = team
    target = members["viewer"].user
    staff = UserFactory(is_staff=True)
    staff_pair = session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True)
    staff_actor = Actor(principal=Principal.from_claims(staff, AccessToken(staff_pair.access_token).payload))
    _, pair = impersonation_start(actor=staff_actor, user_id=target.id, reason="support ticket 42")

    # when: a product service introspects the token a client presented to it
    response = signed.post("/internal/v1/validate-token", {"token": pair.access_token})

    # then: the service must be able to tell it is not the user acting (inactive, or the `act` claim);
    # today it answers the plain user's claims, so every product service treats the impersonator as
    # the user with none of invariant 5's limits and no trace of who really acted
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] is False or (body.get("act") or {}).get("sub") == str(staff.id), body
