"""The OAuth authorization-code flow against the local fake provider: start, consent, callback."""

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from freezegun import freeze_time
from rest_framework.test import APIClient

from audit.models import AuditEvent
from conftest import client_for
from integrations import vault
from integrations.models import Integration
from organizations.models import Membership

pytestmark = pytest.mark.django_db
CALLBACK = "/api/v1/integrations/oauth/{key}/callback"


def start(client, key="gmail") -> str:
    response = client.get(f"/api/v1/integrations/oauth/{key}/start")
    assert response.status_code == 200, response.content
    return response.json()["authorize_url"]


def callback(client, key="gmail", **query):
    return client.get(CALLBACK.format(key=key), query)


def browser_of(client) -> APIClient:
    """The starting browser as the provider sends it back: the cookie the start set, no bearer token."""
    browser = APIClient()
    for name, morsel in client.cookies.items():
        browser.cookies[name] = morsel.value
    return browser


def test_full_flow_with_pkce_stores_encrypted_tokens(team, owner_client, fake_provider):
    organization = team[0]
    authorize_url = start(owner_client)
    params = dict(parse_qsl(urlsplit(authorize_url).query))
    assert authorize_url.startswith(fake_provider.url + "/authorize?")
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert params["access_type"] == "offline"
    # The PKCE verifier stays on the server: the state travelling through the browser lacks it.
    assert len(params["state"]) < 400

    # The provider sends the browser back without our token: the signed state authenticates.
    response = callback(browser_of(owner_client), **fake_provider.consent(authorize_url))

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "ok"
    integration = Integration.objects.get(organization=organization, key="gmail")
    assert integration.type == "oauth" and integration.refreshable and integration.expires_at is not None
    assert integration.connected_by == team[1]["owner"].user
    # Who connected, as the provider names it (its userinfo endpoint, with the new token).
    assert integration.account == fake_provider.account
    listed = owner_client.get("/api/v1/integrations").json()["integrations"]
    assert [item["account"] for item in listed if item["key"] == "gmail"] == [fake_provider.account]
    credentials = vault.unseal(organization=organization, token=integration.secret)
    assert credentials["access_token"] in fake_provider.access_tokens
    assert credentials["access_token"] not in integration.secret
    event = AuditEvent.objects.get(action="integration.connected", organization_id=organization.id)
    assert str(event.actor_id) == str(team[1]["owner"].user.id)


def test_callback_forwarded_by_the_front_end_with_the_same_user_works(owner_client, fake_provider):
    query = fake_provider.consent(start(owner_client, "github"))

    response = callback(owner_client, "github", **query)

    assert response.status_code == 201


def test_callback_with_another_users_token_is_refused(team, owner_client, fake_provider):
    query = fake_provider.consent(start(owner_client))

    response = callback(team[2]["admin"], **query)

    assert response.status_code == 403
    assert not Integration.objects.exists()


def test_replayed_callback_is_refused(owner_client, fake_provider):
    query = fake_provider.consent(start(owner_client))
    assert callback(browser_of(owner_client), **query).status_code == 201

    replay = callback(browser_of(owner_client), **query)

    assert replay.status_code == 400
    assert "state" in replay.json()["error"]["details"]


@pytest.mark.parametrize("tamper", ["drop", "garble", "other_provider"])
def test_bad_state_is_400(owner_client, fake_provider, tamper):
    query = fake_provider.consent(start(owner_client))
    key = "gmail"
    if tamper == "drop":
        query.pop("state")
    elif tamper == "garble":
        query["state"] = query["state"][:-3] + "xyz"
    else:
        key = "google_drive"

    response = callback(browser_of(owner_client), key, **query)

    assert response.status_code == 400
    assert "state" in response.json()["error"]["details"]


def test_state_expires_after_ten_minutes(owner_client, fake_provider):
    with freeze_time() as frozen:
        query = fake_provider.consent(start(owner_client))
        frozen.tick(timedelta(minutes=11))

        response = callback(browser_of(owner_client), **query)

    assert response.status_code == 400
    assert "took too long" in response.json()["error"]["message"]


def test_wrong_pkce_verifier_fails_at_the_provider(owner_client, fake_provider):
    authorize_url = start(owner_client)
    query = fake_provider.consent(authorize_url)
    # An attacker's code, minted for another challenge, cannot be redeemed with our verifier.
    fake_provider.codes[query["code"]]["challenge"] = "not-the-challenge"

    response = callback(browser_of(owner_client), **query)

    assert response.status_code == 409
    assert response.json()["error"]["details"]["provider_error"] == "invalid_grant"


def test_user_declining_is_400(owner_client, fake_provider):
    query = fake_provider.consent(start(owner_client))

    response = callback(browser_of(owner_client), state=query["state"], error="access_denied")

    assert response.status_code == 400
    assert "access_denied" in response.json()["error"]["message"]


def test_member_who_lost_the_permission_meanwhile_is_refused(team, owner_client, fake_provider):
    organization, members, clients = team
    query = fake_provider.consent(start(clients["admin"]))
    demoted = owner_client.patch(f"/api/v1/orgs/{organization.id}/members/{members['admin'].user_id}", {"role": "viewer"}, format="json")
    assert demoted.status_code == 200, demoted.content

    response = callback(browser_of(clients["admin"]), **query)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert not Integration.objects.exists()


def test_removed_member_is_refused(team, fake_provider):
    organization, members, clients = team
    query = fake_provider.consent(start(clients["admin"]))
    Membership.objects.filter(pk=members["admin"].pk).delete()

    response = callback(browser_of(clients["admin"]), **query)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INVALID_ORG_CONTEXT"


@pytest.mark.parametrize(
    ("failure", "status", "kind"),
    [("timeout", 503, "temporary"), ("500", 503, "temporary"), ("invalid_client", 409, "rejected"), ("garbage", 503, "temporary")],
)
def test_provider_failures_on_exchange(owner_client, fake_provider, failure, status, kind):
    query = fake_provider.consent(start(owner_client))
    fake_provider.fail_next = [failure]

    response = callback(browser_of(owner_client), **query)

    assert response.status_code == status, response.content
    assert response.json()["error"]["details"]["provider_error"] == kind
    assert not Integration.objects.exists()


def test_start_without_configured_client_is_503(owner_client):
    response = owner_client.get("/api/v1/integrations/oauth/gmail/start")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_start_for_api_key_only_provider_is_400(owner_client, fake_provider):
    assert owner_client.get("/api/v1/integrations/oauth/sendgrid/start").status_code == 400
    assert owner_client.get("/api/v1/integrations/oauth/nope/start").status_code == 404


def test_slack_uses_comma_scopes_and_no_pkce(owner_client, fake_provider):
    params = dict(parse_qsl(urlsplit(start(owner_client, "slack")).query))

    assert params["scope"] == "chat:write,channels:read"
    assert "code_challenge" not in params


def test_state_is_bound_to_the_org_it_was_started_in(org_factory, fake_provider, unlimited_plan):
    org_a, members_a = org_factory(roles=("owner",))
    org_b, _ = org_factory(roles=("owner",))
    user = members_a["owner"].user
    Membership.objects.create(organization=org_b, user=user, role="admin")
    client = client_for(user, org_a)  # org A is the token's active org
    authorize_url = client.get("/api/v1/integrations/oauth/gmail/start", HTTP_X_ORG_ID=str(org_b.id)).json()["authorize_url"]

    response = callback(browser_of(client), **fake_provider.consent(authorize_url))

    assert response.status_code == 201
    assert Integration.objects.get().organization == org_b


@pytest.mark.parametrize("key", ["slack", "github"])
def test_each_provider_names_the_connected_account(owner_client, fake_provider, key):
    fake_provider.account = f"acme-{key}"

    query = fake_provider.consent(start(owner_client, key))

    response = callback(browser_of(owner_client), key=key, **query)

    assert response.status_code == 201, response.content
    assert Integration.objects.get(key=key).account == f"acme-{key}"


def test_a_provider_that_cannot_name_the_account_still_connects(owner_client, fake_provider):
    fake_provider.userinfo_down = True

    query = fake_provider.consent(start(owner_client))

    response = callback(browser_of(owner_client), **query)

    assert response.status_code == 201, response.content
    integration = Integration.objects.get(key="gmail")
    assert integration.account == "" and integration.status == "active"
