"""Organization API keys through the API: issue, list, authenticate, rotate, revoke, delete."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time
from rest_framework.test import APIClient

from audit.models import AuditEvent
from conftest import client_for
from core import authz, clock
from core.actor import Actor
from organizations.models import Membership, Organization
from permissions import apikeys, engine
from permissions.models import ApiKey

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")


def code_of(response) -> str:
    return response.json()["error"]["code"]


def keys_url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.id}/api-keys{suffix}"


def key_client(secret: str, **defaults) -> APIClient:
    client = APIClient(**defaults)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def issue(organization, *, scopes=None, **fields) -> tuple[ApiKey, str]:
    """A key made through the service (any declared scope may be granted), by the owner unless told."""
    fields.setdefault("created_by", Membership.objects.get(organization=organization, role="owner").user)
    return apikeys.api_key_create(
        organization=organization, name=fields.pop("name", "ci"), grantable=authz.codes(), scopes=scopes, actor=Actor.system(), **fields
    )


def unchecked(creator) -> None:
    """A "not on a better" check that lets everything through (set-up only; the API layer supplies the real one)."""


@pytest.fixture
def team(org_factory):
    organization, members = org_factory(roles=ROLES)
    return organization, members


@pytest.fixture
def admin(team):
    organization, members = team
    return client_for(members["admin"].user, organization)


# --- issue, list, show ------------------------------------------------------------------------


def test_create_shows_the_secret_once_and_stores_only_a_hash(team, admin):
    organization, members = team

    response = admin.post(keys_url(organization), {"name": "deploy bot", "scopes": ["members:read"]}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    # The listed prefix is the literal start of the secret.
    assert body["prefix"].startswith("sk_live_") and secret.startswith(f"{body['prefix']}_")
    assert len(secret) >= len("sk_live_") + apikeys.PREFIX_LENGTH + 1 + 43
    assert body["scopes"] == ["members:read"] and body["status"] == "active"
    assert body["created_by"] == {"id": str(members["admin"].user_id), "email": members["admin"].user.email}
    listed = admin.get(keys_url(organization)).json()
    shown = admin.get(keys_url(organization, f"/{body['id']}")).json()
    for item in (listed["data"][0], shown):
        assert "secret" not in item and "secret_hash" not in item
        assert item["prefix"] == body["prefix"]
        assert secret not in str(item)
    row = ApiKey.objects.values().get(id=body["id"])
    assert not any(secret in str(value) for value in row.values())
    assert row["secret_hash"] == apikeys.secret_hash(secret)
    event = AuditEvent.objects.get(action="api_key.created")
    assert event.actor_type == "user" and event.actor_id == members["admin"].user_id
    assert event.target_id == body["id"] and secret not in str(event.changes)


def test_list_is_paginated_and_filters_by_status(team, admin):
    organization, _ = team
    for n in range(3):
        issue(organization, name=f"k{n}")
    revoked, _ = issue(organization, name="old")
    apikeys.api_key_revoke(api_key=revoked, ensure_not_better=unchecked, actor=Actor.system())

    page = admin.get(keys_url(organization), {"limit": 2}).json()
    only_revoked = admin.get(keys_url(organization), {"status": "revoked"}).json()

    assert (page["total"], page["limit"], page["total_pages"], len(page["data"])) == (4, 2, 2, 2)
    assert [k["name"] for k in only_revoked["data"]] == ["old"]
    assert admin.get(keys_url(organization), {"status": "nope"}).status_code == 400


def test_default_scopes_are_the_creators_permissions(team, admin):
    organization, _ = team

    body = admin.post(keys_url(organization), {"name": "all of mine"}, format="json").json()

    assert body["scopes"] == sorted(engine.builtin_permissions("admin"))
    assert "org:delete" not in body["scopes"]


def test_scopes_beyond_the_creator_are_refused(team, admin):
    organization, _ = team

    beyond = admin.post(keys_url(organization), {"name": "x", "scopes": ["members:read", "org:delete"]}, format="json")
    unknown = admin.post(keys_url(organization), {"name": "x", "scopes": ["nope:never"]}, format="json")

    assert beyond.status_code == 400 and "scopes" in beyond.json()["error"]["details"]
    assert "org:delete" in beyond.json()["error"]["details"]["scopes"][0]
    assert unknown.status_code == 400 and "scopes" in unknown.json()["error"]["details"]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
        ({"name": "x", "ip_allowlist": ["not-an-ip"]}, "ip_allowlist"),
    ],
)
def test_create_validates_its_input(team, admin, payload, field):
    organization, _ = team

    response = admin.post(keys_url(organization), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_ip_allowlist_is_normalized(team, admin):
    organization, _ = team

    body = admin.post(keys_url(organization), {"name": "x", "ip_allowlist": ["10.0.0.7", "10.1.2.3/16", "10.0.0.7"]}, format="json").json()

    assert body["ip_allowlist"] == ["10.0.0.7/32", "10.1.0.0/16"]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_without_api_keys_manage_cannot_touch_keys(team, role):
    organization, members = team
    api_key, _ = issue(organization)
    client = client_for(members[role].user, organization)

    responses = [
        client.post(keys_url(organization), {"name": "mine"}, format="json"),
        client.get(keys_url(organization)),
        client.get(keys_url(organization, f"/{api_key.id}")),
        client.post(keys_url(organization, f"/{api_key.id}/rotate")),
        client.delete(keys_url(organization, f"/{api_key.id}")),
        client.delete(keys_url(organization, f"/{api_key.id}/permanent")),
    ]

    assert {(r.status_code, code_of(r)) for r in responses} == {(403, "INSUFFICIENT_PERMISSIONS")}
    api_key.refresh_from_db()
    assert api_key.status == "active" and ApiKey.objects.count() == 1


def test_plan_limit_on_active_keys(team, admin, monkeypatch):
    from core import entitlements

    organization, _ = team
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: 1 if name == "max_api_keys" else None)
    revoked, _ = issue(organization)
    apikeys.api_key_revoke(api_key=revoked, ensure_not_better=unchecked, actor=Actor.system())  # revoked keys do not count

    first = admin.post(keys_url(organization), {"name": "one"}, format="json")
    second = admin.post(keys_url(organization), {"name": "two"}, format="json")

    assert first.status_code == 201
    assert second.status_code == 402 and code_of(second) == "PLAN_LIMIT_REACHED"


# --- authenticating with a key ----------------------------------------------------------------


def test_a_key_lists_members_of_its_org(team):
    organization, _ = team
    _, secret = issue(organization, scopes=["members:read"])

    response = key_client(secret).get(f"/api/v1/orgs/{organization.id}/members")

    assert response.status_code == 200, response.content
    assert response.json()["total"] == len(ROLES)


def test_a_key_without_the_scope_is_forbidden(team):
    organization, _ = team
    _, secret = issue(organization, scopes=["org:read"])

    response = key_client(secret).get(f"/api/v1/orgs/{organization.id}/members")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"


def test_a_key_uses_its_org_without_a_path_or_header(team):
    organization, _ = team
    _, secret = issue(organization, scopes=["org:read", "api_keys:manage"])

    assert key_client(secret).get(f"/api/v1/orgs/{organization.id}").json()["id"] == str(organization.id)


def test_a_key_against_another_org_is_404_and_changes_nothing(team, org_factory):
    organization, _ = team
    other, _ = org_factory(roles=("owner",))
    _, secret = issue(organization, scopes=sorted(authz.codes()))
    client = key_client(secret)

    responses = [
        client.get(f"/api/v1/orgs/{other.id}/members"),
        client.patch(f"/api/v1/orgs/{other.id}/settings", {"settings": {"timezone": "Europe/Paris"}}, format="json"),
        client.patch(f"/api/v1/orgs/{other.id}", {"name": "Hijacked"}, format="json"),
        client.post(keys_url(other), {"name": "foothold"}, format="json"),
        client.get(f"/api/v1/orgs/{organization.id}/members", HTTP_X_ORG_ID=str(other.id)),
    ]

    assert [r.status_code for r in responses[:4]] == [404] * 4
    assert {code_of(r) for r in responses[:4]} == {"ORG_NOT_FOUND"}
    other.refresh_from_db()
    assert other.name != "Hijacked" and other.settings.get("timezone") is None
    assert not ApiKey.objects.filter(organization=other).exists()
    assert not AuditEvent.objects.filter(organization_id=other.id).exclude(action="api_key.created").exists()


def test_a_key_cannot_use_user_only_or_membership_routes(team):
    organization, _ = team
    _, secret = issue(organization, scopes=sorted(authz.codes()))
    client = key_client(secret)

    responses = [
        client.get("/api/v1/users/me"),
        client.get("/api/v1/orgs"),
        client.post("/api/v1/orgs", {"name": "Spawned"}, format="json"),
        client.get("/api/v1/auth/sessions"),
        client.post("/api/v1/auth/logout"),
        client.get(f"/api/v1/orgs/{organization.id}/profile"),
        client.post(f"/api/v1/orgs/{organization.id}/leave"),
    ]

    assert [r.status_code for r in responses] == [403] * len(responses)
    assert {code_of(r) for r in responses} == {"INSUFFICIENT_PERMISSIONS"}
    assert Organization.objects.count() == 1


def test_a_key_on_a_public_route_is_simply_anonymous(team):
    organization, _ = team
    _, secret = issue(organization)

    assert key_client(secret).get("/api/v1/auth/setup-status").status_code == 200


def test_revoked_key_is_token_invalid(team, admin):
    organization, members = team
    api_key, secret = issue(organization, scopes=["members:read"], created_by=members["admin"].user)

    response = admin.delete(keys_url(organization, f"/{api_key.id}"))
    again = admin.delete(keys_url(organization, f"/{api_key.id}"))
    used = key_client(secret).get(f"/api/v1/orgs/{organization.id}/members")

    assert response.status_code == 204 and again.status_code == 204
    assert used.status_code == 401 and code_of(used) == "TOKEN_INVALID"
    assert admin.get(keys_url(organization, f"/{api_key.id}")).json()["status"] == "revoked"
    assert AuditEvent.objects.filter(action="api_key.revoked", target_id=str(api_key.id)).count() == 1


def test_expired_key_is_token_expired(team):
    organization, _ = team
    with freeze_time("2030-01-01 12:00:00") as frozen:
        api_key, secret = issue(organization, scopes=["members:read"], expires_at=clock.now() + timedelta(hours=1))
        client = key_client(secret)
        assert client.get(f"/api/v1/orgs/{organization.id}/members").status_code == 200

        frozen.tick(timedelta(hours=1, seconds=1))
        response = client.get(f"/api/v1/orgs/{organization.id}/members")
        assert api_key.status == "expired"

    assert response.status_code == 401 and code_of(response) == "TOKEN_EXPIRED"


def test_rotation_keeps_the_old_secret_for_the_grace_period_only(team, settings):
    settings.API_KEY_ROTATION_GRACE_HOURS = 24
    organization, members = team
    members_url = f"/api/v1/orgs/{organization.id}/members"
    with freeze_time("2030-01-01 12:00:00") as frozen:
        admin = client_for(members["admin"].user, organization)  # signed in at the frozen time
        api_key, old_secret = issue(organization, scopes=["members:read"], created_by=members["admin"].user)

        response = admin.post(keys_url(organization, f"/{api_key.id}/rotate"))
        body = response.json()
        new_secret = body["secret"]

        assert response.status_code == 200
        assert new_secret != old_secret and body["prefix"] != api_key.prefix
        assert body["previous_valid_until"] == "2030-01-02T12:00:00.000000Z"
        assert key_client(new_secret).get(members_url).status_code == 200
        assert key_client(old_secret).get(members_url).status_code == 200

        frozen.tick(timedelta(hours=24, seconds=1))
        dead = key_client(old_secret).get(members_url)
        alive = key_client(new_secret).get(members_url)

    assert dead.status_code == 401 and code_of(dead) == "TOKEN_INVALID"
    assert alive.status_code == 200
    event = AuditEvent.objects.get(action="api_key.rotated")
    assert event.changes == {"prefix": [api_key.public_prefix, body["prefix"]]}
    assert old_secret not in str(event.changes) and new_secret not in str(event.changes)


def test_rotation_with_no_grace_kills_the_old_secret_at_once(team, admin, settings):
    settings.API_KEY_ROTATION_GRACE_HOURS = 0
    organization, members = team
    api_key, old_secret = issue(organization, scopes=["members:read"], created_by=members["admin"].user)

    admin.post(keys_url(organization, f"/{api_key.id}/rotate"))

    assert key_client(old_secret).get(f"/api/v1/orgs/{organization.id}/members").status_code == 401


def test_revoking_ends_the_rotation_grace_too(team, admin):
    organization, members = team
    api_key, old_secret = issue(organization, scopes=["members:read"], created_by=members["admin"].user)
    new_secret = admin.post(keys_url(organization, f"/{api_key.id}/rotate")).json()["secret"]

    admin.delete(keys_url(organization, f"/{api_key.id}"))

    for secret in (old_secret, new_secret):
        assert key_client(secret).get(f"/api/v1/orgs/{organization.id}/members").status_code == 401


def test_a_revoked_key_cannot_be_rotated(team, admin):
    organization, _ = team
    api_key, _ = issue(organization)
    apikeys.api_key_revoke(api_key=api_key, ensure_not_better=unchecked, actor=Actor.system())

    response = admin.post(keys_url(organization, f"/{api_key.id}/rotate"))

    assert response.status_code == 409 and code_of(response) == "CONFLICT"


def test_permanent_delete_removes_the_key(team, admin):
    organization, members = team
    api_key, secret = issue(organization, scopes=["members:read"], created_by=members["admin"].user)

    response = admin.delete(keys_url(organization, f"/{api_key.id}/permanent"))

    assert response.status_code == 204
    assert not ApiKey.objects.filter(id=api_key.id).exists()
    assert admin.get(keys_url(organization, f"/{api_key.id}")).status_code == 404
    assert key_client(secret).get(f"/api/v1/orgs/{organization.id}/members").status_code == 401
    event = AuditEvent.objects.get(action="api_key.deleted")
    assert event.target_id == str(api_key.id) and event.organization_id == organization.id


def test_ip_allowlist_is_enforced(team):
    organization, _ = team
    _, secret = issue(organization, scopes=["members:read"], ip_allowlist=["10.0.0.0/24", "2001:db8::/32"])
    members_url = f"/api/v1/orgs/{organization.id}/members"

    inside = key_client(secret, REMOTE_ADDR="10.0.0.42").get(members_url)
    inside_v6 = key_client(secret, REMOTE_ADDR="2001:db8::1").get(members_url)
    outside = key_client(secret, REMOTE_ADDR="10.0.1.1").get(members_url)

    assert inside.status_code == 200 and inside_v6.status_code == 200
    assert outside.status_code == 401 and code_of(outside) == "TOKEN_INVALID"


def test_last_use_is_recorded_at_most_once_a_minute(team):
    organization, _ = team
    api_key, secret = issue(organization, scopes=["members:read"])
    members_url = f"/api/v1/orgs/{organization.id}/members"
    with freeze_time("2030-01-01 12:00:00") as frozen:
        key_client(secret, REMOTE_ADDR="10.0.0.1").get(members_url)
        api_key.refresh_from_db()
        assert (api_key.last_used_at.isoformat(), api_key.last_used_ip) == ("2030-01-01T12:00:00+00:00", "10.0.0.1")

        frozen.tick(timedelta(seconds=30))
        with CaptureQueriesContext(connection) as queries:
            key_client(secret, REMOTE_ADDR="10.0.0.2").get(members_url)
        api_key.refresh_from_db()
        assert api_key.last_used_ip == "10.0.0.1"  # within the minute: no write
        assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]

        frozen.tick(timedelta(seconds=31))
        key_client(secret, REMOTE_ADDR="10.0.0.2").get(members_url)
        api_key.refresh_from_db()

    assert (api_key.last_used_at.isoformat(), api_key.last_used_ip) == ("2030-01-01T12:01:01+00:00", "10.0.0.2")


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key",
        "Api-Key ",
        "Api-Key a b",
        "Api-Key " + "x" * 5000,
        "Api-Key sk_live_" + "A" * 5000,
        "Api-Key pk_live_AbCdEf012345_" + "x" * 43,
        "Api-Key sk_live_short_" + "x" * 43,
        "Api-Key sk_live_AbCdEf012345_" + "x" * 43,
        "Api-Key sk_live_AbCdEf012345_" + "é" * 43,
        "api-key \x00\x01",
    ],
)
def test_garbage_api_key_headers_are_401_envelopes(team, header):
    organization, _ = team
    issue(organization)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(f"/api/v1/orgs/{organization.id}/members")

    assert response.status_code == 401
    assert code_of(response) in {"AUTHENTICATION_FAILED", "TOKEN_INVALID"}
    assert response.json()["error"]["request_id"]


def test_a_wrong_secret_with_a_real_prefix_is_token_invalid(team):
    organization, _ = team
    api_key, secret = issue(organization)
    forged = f"sk_live_{api_key.prefix}_" + "A" * 43

    response = key_client(forged).get(f"/api/v1/orgs/{organization.id}/members")

    assert forged != secret
    assert response.status_code == 401 and code_of(response) == "TOKEN_INVALID"


def test_each_key_has_its_own_rate_limit(team, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/min"},
    }
    organization, _ = team
    _, first = issue(organization, scopes=["members:read"])
    _, second = issue(organization, scopes=["members:read"])
    members_url = f"/api/v1/orgs/{organization.id}/members"

    statuses = [key_client(first).get(members_url).status_code for _ in range(3)]
    other = key_client(second).get(members_url)

    assert statuses == [200, 200, 429]
    assert other.status_code == 200


# --- tenancy ----------------------------------------------------------------------------------


def test_a_member_of_another_org_cannot_touch_these_keys(team, org_factory):
    organization, _ = team
    api_key, secret = issue(organization, scopes=["members:read"])
    other, other_members = org_factory(roles=("owner",))
    stranger = client_for(other_members["owner"].user, other)

    by_path = [
        stranger.get(keys_url(organization)),
        stranger.post(keys_url(organization), {"name": "x"}, format="json"),
        stranger.get(keys_url(organization, f"/{api_key.id}")),
        stranger.post(keys_url(organization, f"/{api_key.id}/rotate")),
        stranger.delete(keys_url(organization, f"/{api_key.id}")),
        stranger.delete(keys_url(organization, f"/{api_key.id}/permanent")),
    ]
    # Their own org in the path, this org's key id: the key is simply not found there.
    by_id = [
        stranger.get(keys_url(other, f"/{api_key.id}")),
        stranger.post(keys_url(other, f"/{api_key.id}/rotate")),
        stranger.delete(keys_url(other, f"/{api_key.id}")),
        stranger.delete(keys_url(other, f"/{api_key.id}/permanent")),
    ]

    assert [r.status_code for r in by_path + by_id] == [404] * 10
    assert {code_of(r) for r in by_path} == {"ORG_NOT_FOUND"}
    assert {code_of(r) for r in by_id} == {"NOT_FOUND"}
    assert stranger.get(keys_url(other)).json()["total"] == 0
    api_key.refresh_from_db()
    assert api_key.status == "active" and api_key.prefix == secret.split("_")[2]


def test_list_runs_a_constant_number_of_queries(team, admin, unlimited_plan):
    organization, members = team
    creators = [m.user for m in members.values()]

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin.get(keys_url(organization), {"limit": 100})
        assert response.status_code == 200
        return len(queries.captured_queries)

    for n in range(10):
        issue(organization, name=f"k{n}", created_by=creators[n % len(creators)])
    admin.get(keys_url(organization))  # warm the per-org authorization cache
    ten = count_queries()
    for n in range(50):
        issue(organization, name=f"more{n}", created_by=creators[n % len(creators)])
    sixty = count_queries()

    assert ten == sixty


# --- audit ------------------------------------------------------------------------------------


def test_changes_made_with_a_key_name_the_key(team):
    organization, members = team
    manager, secret = issue(organization, scopes=["api_keys:manage", "members:read"])
    full, full_secret = issue(organization, scopes=sorted(authz.codes()))
    client = key_client(secret)

    created = client.post(keys_url(organization), {"name": "child"}, format="json")
    beyond = client.post(keys_url(organization), {"name": "child", "scopes": ["org:delete"]}, format="json")
    # Revoking a key of the owner needs everything the owner holds: the full key may, the narrow one not.
    narrow_revoke = client.delete(keys_url(organization, f"/{created.json()['id']}"))
    key_client(full_secret).delete(keys_url(organization, f"/{created.json()['id']}"))

    assert created.status_code == 201, created.content
    assert created.json()["scopes"] == ["api_keys:manage", "members:read"]  # the creating key's own scopes
    # A key made by a key acts for the same member.
    assert created.json()["created_by"]["id"] == str(members["owner"].user_id)
    assert beyond.status_code == 400 and "scopes" in beyond.json()["error"]["details"]
    assert narrow_revoke.status_code == 403
    events = AuditEvent.objects.filter(action__in=["api_key.created", "api_key.revoked"], actor_type="api_key")
    assert {(e.action, e.actor_id, e.actor_email) for e in events} == {
        ("api_key.created", manager.id, ""),
        ("api_key.revoked", full.id, ""),
    }


def test_org_settings_changed_with_a_key_record_the_keys_id(team):
    organization, _ = team
    api_key, secret = issue(organization, scopes=["org:update"])

    response = key_client(secret).patch(f"/api/v1/orgs/{organization.id}/settings", {"settings": {"timezone": "Europe/Paris"}}, format="json")

    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="org.settings_updated")
    assert event.actor_id == api_key.id and event.actor_email == ""


def test_org_settings_changed_with_a_key_record_actor_type_api_key(team):
    organization, _ = team
    _, secret = issue(organization, scopes=["org:update"])

    key_client(secret).patch(f"/api/v1/orgs/{organization.id}/settings", {"settings": {"locale": "fr"}}, format="json")

    assert AuditEvent.objects.get(action="org.settings_updated").actor_type == "api_key"


def test_a_key_can_invite_members(team):
    organization, _ = team
    _, secret = issue(organization, scopes=sorted(engine.builtin_permissions("viewer") | {"members:invite"}))

    response = key_client(secret).post(f"/api/v1/orgs/{organization.id}/invites", {"email": "new@example.com", "role": "viewer"}, format="json")

    assert response.status_code == 201, response.content
