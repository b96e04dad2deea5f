"""Integration OAuth flows are bound to the caller who started them (API.md v1.1 invariant 4).

The attack: an attacker starts a Gmail connect in their own org and sends the `authorize_url` to
a victim. The victim consents at Google with *their* mailbox and the provider redirects the
victim's browser to our callback. Before the fix the callback accepted any browser holding the
state, and the victim's tokens were stored in the attacker's org.
"""

from urllib.parse import parse_qsl, urlsplit

import pytest
from rest_framework.test import APIClient

from conftest import client_for
from integrations.api.views import OAUTH_BINDING_COOKIE
from integrations.models import Integration
from integrations.tests.test_oauth_flow import CALLBACK, browser_of, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def attacker(org_factory, unlimited_plan):
    """An owner of their own org, signed in, about to start a connect flow."""
    organization, members = org_factory(roles=("owner",))
    return organization, client_for(members["owner"].user, organization)


@pytest.fixture
def victim(org_factory):
    """Someone else, with an account and an org of their own."""
    organization, members = org_factory(roles=("owner",))
    return members["owner"].user, client_for(members["owner"].user, organization)


def completes(client, query, key="gmail"):
    return client.get(CALLBACK.format(key=key), query)


def test_victim_browser_completing_the_attackers_url_stores_nothing(attacker, fake_provider):
    # given: the attacker's authorize URL, consented to by the victim with the victim's mailbox
    attacker_org, attacker_client = attacker
    authorize_url = start(attacker_client)
    fake_provider.account = "victim@victim.example"
    query = fake_provider.consent(authorize_url)

    # when: the provider sends the victim's browser (no cookie of that flow, no token) back
    response = completes(APIClient(), query)

    # then: refused before any token exchange; nothing lands in the attacker's org
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert fake_provider.token_calls == []
    assert not Integration.objects.filter(organization=attacker_org).exists()


def test_victim_signed_in_elsewhere_completing_the_attackers_url_stores_nothing(attacker, victim, fake_provider):
    attacker_org, attacker_client = attacker
    query = fake_provider.consent(start(attacker_client))
    _, victim_client = victim  # a front end forwarding code+state with the *victim's* token

    response = completes(victim_client, query)

    assert response.status_code == 403
    assert fake_provider.token_calls == []
    assert not Integration.objects.exists()


def test_victim_browser_with_its_own_flow_cookie_cannot_complete_the_attackers_url(attacker, victim, fake_provider):
    # The victim started a Gmail connect of their own: their browser holds a binding cookie, but not this flow's.
    attacker_org, attacker_client = attacker
    _, victim_client = victim
    start(victim_client)
    victim_browser = browser_of(victim_client)
    query = fake_provider.consent(start(attacker_client))

    response = completes(victim_browser, query)

    assert response.status_code == 403
    assert fake_provider.token_calls == []
    assert not Integration.objects.exists()


def test_a_refused_callback_spends_the_state_so_the_attacker_cannot_replay_the_victims_code(attacker, fake_provider):
    attacker_org, attacker_client = attacker
    query = fake_provider.consent(start(attacker_client))
    assert completes(APIClient(), query).status_code == 403

    # The victim's code leaked (Referer, history): the attacker's own browser holds the binding.
    replay = completes(browser_of(attacker_client), query)

    assert replay.status_code == 400
    assert "state" in replay.json()["error"]["details"]
    assert fake_provider.token_calls == []
    assert not Integration.objects.filter(organization=attacker_org).exists()


def test_the_starting_browser_completes_and_the_binding_is_single_use(attacker, fake_provider):
    attacker_org, starter = attacker  # here simply the legitimate user
    query = fake_provider.consent(start(starter))
    browser = browser_of(starter)

    response = completes(browser, query)

    assert response.status_code == 201, response.content
    assert Integration.objects.filter(organization=attacker_org, key="gmail").exists()
    cleared = response.cookies[OAUTH_BINDING_COOKIE]
    assert cleared.value == "" and cleared["max-age"] == 0


def test_the_starting_users_token_completes_without_the_cookie(attacker, fake_provider):
    attacker_org, starter = attacker
    query = fake_provider.consent(start(starter))
    starter.cookies.clear()  # a front end page forwarding code and state with the user's bearer token

    response = completes(starter, query)

    assert response.status_code == 201, response.content


def test_binding_cookie_is_httponly_lax_path_limited_short_lived_and_not_in_the_url(attacker, fake_provider, settings):
    settings.SESSION_COOKIE_SECURE = True  # as config.settings.prod sets it
    _, starter = attacker

    response = starter.get("/api/v1/integrations/oauth/gmail/start")

    cookie = response.cookies[OAUTH_BINDING_COOKIE]
    assert cookie["httponly"] and cookie["secure"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == CALLBACK.format(key="gmail")
    assert 0 < cookie["max-age"] <= 600
    authorize_url = response.json()["authorize_url"]
    assert cookie.value not in authorize_url
    assert cookie.value not in dict(parse_qsl(urlsplit(authorize_url).query))["state"]
