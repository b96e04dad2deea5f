"""/api/v1/orgs/{id}/scim/tokens: issue (shown once, hashed), list, rotate, revoke; `org:update` and plan flag `sso`."""

import pytest

from audit.models import AuditEvent
from conftest import client_for
from organizations.tests.factories import MembershipFactory
from permissions import apikeys
from scim import tokens
from scim.models import ScimToken
from scim.tests.conftest import ScimClient, plan_set, scim_error

pytestmark = pytest.mark.django_db


def _url(org, rest: str = "") -> str:
    return f"/api/v1/orgs/{org.id}/scim/tokens{rest}"


@pytest.fixture
def admin_api(org, admin):
    return client_for(admin.user, org)


def test_issue_a_token_shown_once_and_stored_hashed(admin_api, org, admin):
    response = admin_api.post(_url(org), {"name": "Okta"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith(body["prefix"] + "_") and body["prefix"].startswith("scim_")
    assert body["scim_base_url"] == f"http://testserver/scim/v2/{org.id}"
    assert body["created_by"] == {"id": str(admin.user_id), "email": admin.user.email}
    row = ScimToken.objects.get(id=body["id"])
    assert row.secret_hash == tokens.secret_hash(secret) and secret not in row.secret_hash
    # Listed and shown again without the secret (the leak guard fails the test otherwise).
    listed = admin_api.get(_url(org)).json()
    assert [item["id"] for item in listed["data"]] == [body["id"]]
    assert "secret" not in admin_api.get(_url(org, f"/{body['id']}")).json()
    event = AuditEvent.objects.get(organization_id=org.id, action="scim.token_created")
    assert event.actor_id == admin.user_id and secret not in str(event.changes)
    # The token works on the org's SCIM base URL.
    assert ScimClient(org, secret).get("ServiceProviderConfig").status_code == 200


def test_rotate_replaces_the_secret_at_once(admin_api, org):
    issued = admin_api.post(_url(org), {}, format="json").json()

    response = admin_api.post(_url(org, f"/{issued['id']}/rotate"), format="json")

    assert response.status_code == 200, response.content
    assert response.json()["secret"] != issued["secret"]
    scim_error(ScimClient(org, issued["secret"]).get("Users"), 401)
    assert ScimClient(org, response.json()["secret"]).get("Users").status_code == 200
    assert AuditEvent.objects.filter(organization_id=org.id, action="scim.token_rotated").exists()


def test_revoke(admin_api, org):
    issued = admin_api.post(_url(org), {}, format="json").json()

    response = admin_api.delete(_url(org, f"/{issued['id']}"))

    assert response.status_code == 204
    assert admin_api.get(_url(org, f"/{issued['id']}")).json()["status"] == "revoked"
    scim_error(ScimClient(org, issued["secret"]).get("Users"), 401)
    assert admin_api.delete(_url(org, f"/{issued['id']}")).status_code == 204
    assert admin_api.post(_url(org, f"/{issued['id']}/rotate"), format="json").status_code == 409
    assert AuditEvent.objects.filter(organization_id=org.id, action="scim.token_revoked").count() == 1


def test_a_plan_without_sso_is_402(admin_api, org):
    plan_set(org, "pro")

    response = admin_api.post(_url(org), {}, format="json")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "PLAN_UPGRADE_REQUIRED"
    assert not ScimToken.objects.filter(organization=org).exists()


def test_a_member_without_org_update_is_403(org, owner):
    member = MembershipFactory(organization=org, role="member")

    response = client_for(member.user, org).post(_url(org), {}, format="json")

    assert response.status_code == 403


def test_unknown_body_fields_are_refused(admin_api, org):
    response = admin_api.post(_url(org), {"name": "Okta", "scopes": ["*"]}, format="json")

    assert response.status_code == 400
    assert "scopes" in response.json()["error"]["details"]


def test_an_api_key_cannot_mint_a_scim_token(org, admin):
    # A key bounded to a few scopes would otherwise get a token acting with its creator's full powers.
    _, secret = apikeys.api_key_create(
        organization=org, name="k", grantable=frozenset({"org:update", "org:read"}), scopes=["org:update"], created_by=admin.user, actor=_actor(admin)
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    response = client.post(_url(org), {}, format="json")

    assert response.status_code == 403
    assert not ScimToken.objects.filter(organization=org).exists()


def test_a_token_of_a_better_cannot_be_rotated_or_revoked(org, owner, admin):
    issued = tokens.token_create(organization=org, name="owner's", actor=_actor(owner))
    admin_api = client_for(admin.user, org)

    assert admin_api.post(_url(org, f"/{issued.token.id}/rotate"), format="json").status_code == 403
    assert admin_api.delete(_url(org, f"/{issued.token.id}")).status_code == 403
    assert ScimClient(org, issued.secret).get("Users").status_code == 200


def test_another_orgs_token_is_404(admin_api, org, org_factory):
    other, members = org_factory()
    plan_set(other, "team")
    foreign = tokens.token_create(organization=other, name="b", actor=_actor(members["owner"]))

    assert admin_api.get(_url(org, f"/{foreign.token.id}")).status_code == 404
    assert admin_api.delete(_url(org, f"/{foreign.token.id}")).status_code == 404
    assert ScimToken.objects.get(id=foreign.token.id).revoked_at is None


def test_at_most_five_active_tokens(admin_api, org):
    for _ in range(tokens.MAX_ACTIVE_TOKENS):
        assert admin_api.post(_url(org), {}, format="json").status_code == 201

    assert admin_api.post(_url(org), {}, format="json").status_code == 409


def _actor(membership):
    from core.actor import Actor

    return Actor.for_user(membership.user)


def test_the_token_list_takes_constant_queries(admin_api, org, admin, django_assert_max_num_queries):
    tokens.token_create(organization=org, name="first", actor=_actor(admin))
    admin_api.get(_url(org))
    with django_assert_max_num_queries(30) as few:
        admin_api.get(_url(org))
    for n in range(4):
        holder = MembershipFactory(organization=org, role="admin")
        tokens.token_create(organization=org, name=f"t{n}", actor=_actor(holder))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_api.get(_url(org))

    assert len(response.json()["data"]) == 5
    assert {item["created_by"]["email"] for item in response.json()["data"]} >= {admin.user.email}
