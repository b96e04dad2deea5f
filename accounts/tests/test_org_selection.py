"""Login with `org_selection: true` and `auth/select-org` (seed 003): pick the org after every factor passed."""

import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from freezegun import freeze_time
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import UserSession
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEvent
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory

LOGIN = "/api/v1/auth/login"
SELECT = "/api/v1/auth/select-org"
VERIFY = "/api/v1/auth/mfa/verify"


@pytest.fixture(autouse=True)
def frozen():
    with freeze_time("2030-03-01 12:00:05") as frozen_time:
        yield frozen_time


@pytest.fixture
def person(db):
    """A user active in two orgs (owner of Alpha, viewer of Beta)."""
    user = UserFactory()
    alpha = OrganizationFactory(name="Alpha", slug="alpha")
    beta = OrganizationFactory(name="Beta", slug="beta")
    MembershipFactory(user=user, organization=alpha, role="owner")
    MembershipFactory(user=user, organization=beta, role="viewer")
    user.orgs = {"alpha": alpha, "beta": beta}
    return user


def login(email: str, **extra):
    return APIClient().post(LOGIN, {"email": email, "password": DEFAULT_PASSWORD, **extra}, format="json")


def select(token: str, organization_id):
    return APIClient().post(SELECT, {"selection_token": token, "organization_id": str(organization_id)}, format="json")


def code_of(response) -> str:
    return response.json()["error"]["code"]


def selection_token(user) -> str:
    response = login(user.email, org_selection=True)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "org_selection_required"
    return response.json()["selection_token"]


def totp_now(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


# --- without the flag ------------------------------------------------------------------------


def test_login_without_the_flag_is_unchanged_and_lists_organizations(person):
    # when
    response = login(person.email)
    # then
    body = response.json()
    assert response.status_code == 200
    assert body["access_token"] and body["refresh_token"]
    assert body["organization"]["id"] == str(person.orgs["alpha"].id)
    assert body["organizations"] == [
        {"id": str(person.orgs["alpha"].id), "name": "Alpha", "slug": "alpha", "role": "owner"},
        {"id": str(person.orgs["beta"].id), "name": "Beta", "slug": "beta", "role": "viewer"},
    ]


def test_flag_with_one_org_signs_in_directly(user, org_factory):
    # given
    organization, _ = org_factory(roles=())
    MembershipFactory(user=user, organization=organization)
    # when
    response = login(user.email, org_selection=True)
    # then
    assert response.status_code == 200
    assert response.json()["organization"]["id"] == str(organization.id)
    assert "selection_token" not in response.json()


def test_flag_with_an_organization_id_signs_in_there(person):
    response = login(person.email, org_selection=True, organization_id=str(person.orgs["beta"].id))

    assert response.status_code == 200
    assert AccessToken(response.json()["access_token"])["org_id"] == str(person.orgs["beta"].id)


# --- the selection ---------------------------------------------------------------------------


def test_flag_with_two_orgs_asks_to_pick_and_opens_no_session(person):
    # when
    response = login(person.email, org_selection=True)
    # then
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"status", "selection_token", "organizations"}
    assert body["status"] == "org_selection_required"
    assert [org["slug"] for org in body["organizations"]] == ["alpha", "beta"]
    assert not UserSession.objects.filter(user=person).exists()


def test_select_org_returns_tokens_for_the_chosen_org_and_is_audited(person):
    # given
    token = selection_token(person)
    beta = person.orgs["beta"]
    # when
    response = select(token, beta.id)
    # then
    body = response.json()
    assert response.status_code == 200, response.content
    claims = AccessToken(body["access_token"])
    assert claims["org_id"] == str(beta.id)
    assert claims["role"] == "viewer"
    assert claims["mfa"] is False
    assert body["organization"]["id"] == str(beta.id)
    assert len(body["organizations"]) == 2
    session = UserSession.objects.get(user=person)
    assert str(session.organization_id) == str(beta.id)
    event = AuditEvent.objects.get(action="user.logged_in", actor_id=person.id)
    assert str(event.organization_id) == str(beta.id)
    assert event.metadata["org_selected"] is True


def test_selection_token_is_single_use(person):
    # given
    token = selection_token(person)
    assert select(token, person.orgs["beta"].id).status_code == 200
    # when
    replay = select(token, person.orgs["alpha"].id)
    # then
    assert replay.status_code == 401
    assert code_of(replay) == "TOKEN_INVALID"
    assert UserSession.objects.filter(user=person).count() == 1


def test_selection_token_expires_after_five_minutes(person, frozen):
    # given
    token = selection_token(person)
    frozen.tick(301)
    # when
    response = select(token, person.orgs["beta"].id)
    # then
    assert response.status_code == 401
    assert code_of(response) == "TOKEN_INVALID"


def test_garbage_token_is_401(person):
    response = select("not-a-token", person.orgs["beta"].id)

    assert response.status_code == 401
    assert code_of(response) == "TOKEN_INVALID"


def test_org_the_user_is_not_in_is_refused_and_the_token_stays_usable(person):
    # given
    token = selection_token(person)
    foreign = OrganizationFactory()
    # when
    refused = select(token, foreign.id)
    # then
    assert refused.status_code == 403
    assert code_of(refused) == "INVALID_ORG_CONTEXT"
    assert not UserSession.objects.filter(user=person).exists()
    assert select(token, person.orgs["alpha"].id).status_code == 200


def test_another_users_token_cannot_enter_that_users_org(person):
    # given: the attacker holds a selection token of their own and names the victim's org
    attacker = UserFactory()
    MembershipFactory(user=attacker, organization=OrganizationFactory())
    MembershipFactory(user=attacker, organization=OrganizationFactory())
    token = selection_token(attacker)
    # when
    response = select(token, person.orgs["alpha"].id)
    # then
    assert response.status_code == 403
    assert not UserSession.objects.filter(user=person).exists()
    assert not UserSession.objects.filter(user=attacker).exists()


@pytest.mark.parametrize("change", ["left", "suspended"])
def test_org_the_user_left_or_was_suspended_from_after_login_is_refused(person, change):
    # given
    token = selection_token(person)
    membership = Membership.objects.get(user=person, organization=person.orgs["beta"])
    if change == "left":
        membership.delete()
    else:
        membership.status = Membership.Status.SUSPENDED
        membership.save()
    # when
    response = select(token, person.orgs["beta"].id)
    # then
    assert response.status_code == 403
    assert code_of(response) == "INVALID_ORG_CONTEXT"


def test_deactivated_user_cannot_spend_a_selection_token(person):
    token = selection_token(person)
    person.is_active = False
    person.save()

    response = select(token, person.orgs["beta"].id)

    assert response.status_code == 401


def test_select_org_refuses_unknown_fields(person):
    token = selection_token(person)

    response = APIClient().post(SELECT, {"selection_token": token, "organization_id": str(person.orgs["beta"].id), "mfa": True}, format="json")

    assert response.status_code == 400
    assert "mfa" in response.json()["error"]["details"]


def test_select_org_is_throttled_like_login():
    from accounts.api.views import LoginView, SelectOrgView

    assert SelectOrgView.throttle_scope == LoginView.throttle_scope == "login"


# --- with MFA --------------------------------------------------------------------------------


def test_mfa_challenge_comes_first_then_the_selection(person, frozen):
    # given
    device = TOTPDevice.objects.create(user=person, name="default", confirmed=True)
    first = login(person.email, org_selection=True).json()
    assert first["status"] == "mfa_required"
    assert "selection_token" not in first
    # when
    verified = APIClient().post(VERIFY, {"mfa_token": first["mfa_token"], "code": totp_now(device)}, format="json")
    # then
    body = verified.json()
    assert verified.status_code == 200, verified.content
    assert body["status"] == "org_selection_required"
    assert "access_token" not in body
    picked = select(body["selection_token"], person.orgs["beta"].id)
    assert picked.status_code == 200
    claims = AccessToken(picked.json()["access_token"])
    assert claims["mfa"] is True
    assert claims["org_id"] == str(person.orgs["beta"].id)


def test_mfa_token_is_not_a_selection_token(person):
    # given: MFA not yet passed
    TOTPDevice.objects.create(user=person, name="default", confirmed=True)
    mfa_token = login(person.email, org_selection=True).json()["mfa_token"]
    # when
    response = select(mfa_token, person.orgs["beta"].id)
    # then
    assert response.status_code == 401
    assert not UserSession.objects.filter(user=person).exists()


def test_selection_token_is_not_an_mfa_token(person):
    # given
    token = selection_token(person)
    # when
    response = APIClient().post(VERIFY, {"mfa_token": token, "code": "123456"}, format="json")
    # then
    assert response.status_code == 401
