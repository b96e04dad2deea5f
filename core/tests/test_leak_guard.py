"""The suite-wide response scan (root conftest `leak_guard`) catches what it must."""

import pytest

from conftest import client_for
from core.actor import Actor


def test_a_password_hash_in_a_body_fails_the_request(leak_guard):
    with pytest.raises(AssertionError, match="password hash"):
        leak_guard.check(b'{"password": "argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"}', "GET /x")


def test_a_stored_secret_column_is_forbidden_once_saved(leak_guard, user, org_factory):
    # given an invite saved with its code hash (post_save registers the column)
    from organizations import invites

    organization, _ = org_factory()
    issued = invites.invite_create(organization=organization, email="guest@corp.example", role="member", actor=Actor.system())

    with pytest.raises(AssertionError, match="Invite.code_hash"):
        leak_guard.check(f'{{"x": "{issued.invite.code_hash}"}}'.encode(), "GET /x")


def test_an_api_key_secret_may_be_shown_once_only(leak_guard, org_factory, unlimited_plan):
    organization, members = org_factory(roles=("owner",))
    client = client_for(members["owner"].user, organization)

    created = client.post(f"/api/v1/orgs/{organization.id}/api-keys", {"name": "ci"}, format="json")

    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret in leak_guard.forbidden
    with pytest.raises(AssertionError, match="secret shown at creation"):
        leak_guard.check(f'{{"echo": "{secret}"}}'.encode(), "GET /x")


def test_the_real_endpoints_pass_the_scan(leak_guard, org_factory, unlimited_plan):
    # Every response below goes through the guard: listing keys after creating one, the
    # member list, my profile and sessions never show a hash or the key's secret.
    organization, members = org_factory(roles=("owner",))
    client = client_for(members["owner"].user, organization)
    client.post(f"/api/v1/orgs/{organization.id}/api-keys", {"name": "ci"}, format="json")

    for path in (
        f"/api/v1/orgs/{organization.id}/api-keys",
        f"/api/v1/orgs/{organization.id}/members",
        "/api/v1/users/me",
        "/api/v1/auth/sessions",
        "/api/v1/users/me/export",
    ):
        assert client.get(path).status_code == 200, path
    assert leak_guard.forbidden  # hashes and the shown secret were registered, and none leaked
