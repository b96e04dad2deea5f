"""Invariant 8 on `subscriptions/activate`: a staff power needs a session that passed MFA."""

import pytest
from rest_framework.test import APIClient

from accounts.sessions import session_create
from accounts.staff import impersonation_start
from accounts.tests.factories import UserFactory
from billing.models import Subscription
from billing.tests.conftest import code_of
from conftest import client_for
from core.actor import Actor, Principal

pytestmark = pytest.mark.django_db

ACTIVATE = "/api/v1/billing/subscriptions/activate"


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def activate(client, organization):
    body = {"organization_id": str(organization.id), "plan": "team", "provider": "manual", "months": 3}
    return client.post(ACTIVATE, body, format="json")


def test_staff_session_without_mfa_cannot_activate_a_subscription(team):
    # given: a staff member who signed in with a password only (a stolen password is enough here)
    organization, members, clients = team
    staff = client_for(UserFactory(is_staff=True))

    # when
    response = activate(staff, organization)

    # then
    assert response.status_code == 403 and code_of(response) == "MFA_REQUIRED"
    assert not Subscription.objects.filter(organization=organization, provider="manual").exists()


def test_staff_session_with_mfa_activates(team):
    organization, members, clients = team
    staff = UserFactory(is_staff=True)

    response = activate(bearer(session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True).access_token), organization)

    assert response.status_code == 200, response.content


def test_impersonation_token_cannot_activate(team):
    # given: staff with MFA impersonate the org's owner
    organization, members, clients = team
    staff = UserFactory(is_staff=True)
    staff_token = session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True).access_token
    from rest_framework_simplejwt.tokens import AccessToken

    _, pair = impersonation_start(
        actor=Actor(principal=Principal.from_claims(staff, AccessToken(staff_token).payload)), user_id=members["owner"].user_id, reason="ticket 7"
    )

    # when
    response = activate(bearer(pair.access_token), organization)

    # then
    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
