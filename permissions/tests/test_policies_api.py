"""Policies through the API: CRUD, strict validation, no escalation, and real enforcement on views."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from audit.models import AuditEvent
from organizations.models import Organization, TeamMembership
from organizations.tests.factories import MembershipFactory, TeamFactory
from permissions.models import Policy, Role
from permissions.tests.helpers import code_of, org_url, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(org_factory):
    return org_factory(roles=("owner", "admin", "member", "viewer"))


def revision(organization) -> int:
    return Organization.objects.get(id=organization.id).authz_revision


def policy_body(**overrides) -> dict:
    return {"name": "MFA for settings", "effect": "deny", "permissions": ["org:update"], "conditions": {"mfa_required": True}, **overrides}


# --- CRUD -------------------------------------------------------------------------------------


def test_create_policy(org):
    organization, members = org
    team = TeamFactory(organization=organization)
    client = token_client(members["owner"].user, organization)
    before = revision(organization)
    body = policy_body(
        subjects={"roles": ["member", "admin"], "users": [str(members["viewer"].user_id)], "teams": [str(team.id)]},
        conditions={
            "mfa_required": True,
            "ip_ranges": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"],
            "time_window": {"start": "09:00", "end": "17:30", "days": [4, 0, 0], "timezone": "Europe/Paris"},
        },
    )

    response = client.post(org_url(organization, "policies"), body, format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["effect"] == "deny" and created["permissions"] == ["org:update"]
    assert created["subjects"] == {"roles": ["admin", "member"], "users": [str(members["viewer"].user_id)], "teams": [str(team.id)]}
    assert created["conditions"] == {
        "mfa_required": True,
        "ip_ranges": ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"],
        "time_window": {"start": "09:00", "end": "17:30", "days": [0, 4], "timezone": "Europe/Paris"},
    }
    assert revision(organization) > before
    event = AuditEvent.objects.get(action="policy.created")
    assert event.target_id == created["id"] and event.changes["effect"] == [None, "deny"]
    assert event.changes["permissions"] == [None, ["org:update"]]


def test_list_get_patch_delete_policy(org):
    organization, members = org
    # MFA-verified: once the policy exists, changing it needs org:update, which it gates behind MFA.
    client = token_client(members["admin"].user, organization, mfa=True)
    # Aimed at admins and members: a deny on everyone would name the owner, the admin's better.
    created = client.post(org_url(organization, "policies"), policy_body(subjects={"roles": ["admin", "member"]}), format="json").json()

    listed = client.get(org_url(organization, "policies")).json()
    got = client.get(org_url(organization, f"policies/{created['id']}"))
    before = revision(organization)
    patched = client.patch(
        org_url(organization, f"policies/{created['id']}"), {"name": "Office only", "conditions": {"ip_ranges": ["10.0.0.0/8"]}}, format="json"
    )

    assert listed["total"] == 1 and listed["data"][0]["id"] == created["id"]
    assert got.status_code == 200 and got.json()["name"] == "MFA for settings"
    assert patched.status_code == 200, patched.content
    assert patched.json()["conditions"] == {"ip_ranges": ["10.0.0.0/8"]}  # replaced whole, not merged
    assert revision(organization) > before
    event = AuditEvent.objects.get(action="policy.updated")
    assert event.changes == {"name": ["MFA for settings", "Office only"], "conditions": [{"mfa_required": True}, {"ip_ranges": ["10.0.0.0/8"]}]}

    before = revision(organization)
    outside = client.delete(org_url(organization, f"policies/{created['id']}"))
    deleted = client.delete(org_url(organization, f"policies/{created['id']}"), REMOTE_ADDR="10.0.0.1")

    assert outside.status_code == 403  # lifting it needs org:update, which it now keeps to the office
    assert deleted.status_code == 204
    assert not Policy.objects.exists()
    assert revision(organization) > before
    assert AuditEvent.objects.get(action="policy.deleted").changes["name"] == ["Office only", None]


def test_policy_list_is_paginated_with_constant_queries(org, django_assert_max_num_queries):
    organization, members = org
    client = token_client(members["owner"].user, organization)
    Policy.objects.create(organization=organization, name="p0", effect="allow", permissions=["org:read"])
    client.get(org_url(organization, "policies"))
    with CaptureQueriesContext(connection) as one:
        client.get(org_url(organization, "policies"))
    one = len(one)
    Policy.objects.bulk_create([Policy(organization=organization, name=f"p{i}", effect="allow", permissions=["org:read"]) for i in range(1, 25)])

    # Rows made directly (no revision bump): authorization stays warm, only the page grows.
    with django_assert_max_num_queries(one):
        response = client.get(org_url(organization, "policies?limit=100"))

    assert response.json()["total"] == 25
    page = client.get(org_url(organization, "policies?limit=10&page=3")).json()
    assert len(page["data"]) == 5 and page["total_pages"] == 3


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_policies_need_roles_manage(org, role):
    organization, members = org
    policy = Policy.objects.create(organization=organization, name="p", effect="deny", permissions=["org:update"])
    client = token_client(members[role].user, organization)

    responses = [
        client.get(org_url(organization, "policies")),
        client.post(org_url(organization, "policies"), policy_body(), format="json"),
        client.get(org_url(organization, f"policies/{policy.id}")),
        client.patch(org_url(organization, f"policies/{policy.id}"), {"name": "x"}, format="json"),
        client.delete(org_url(organization, f"policies/{policy.id}")),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assert Policy.objects.get(id=policy.id).name == "p"


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"priority": 1}, ["priority"]),
        ({"effect": "maybe"}, ["effect"]),
        ({"permissions": []}, ["permissions"]),
        ({"permissions": ["org:update", "made:up"]}, ["permissions"]),
        ({"name": ""}, ["name"]),
        ({"subjects": {"groups": ["x"]}}, ["subjects", "groups"]),
        ({"subjects": {"roles": ["ghost"]}}, ["subjects", "roles"]),
        ({"subjects": {"users": ["not-a-uuid"]}}, ["subjects", "users"]),
        ({"subjects": {"users": [str(uuid.uuid4())]}}, ["subjects", "users"]),
        ({"subjects": {"teams": [str(uuid.uuid4())]}}, ["subjects", "teams"]),
        ({"subjects": "everyone"}, ["subjects"]),
        ({"conditions": {"mfa": True}}, ["conditions", "mfa"]),
        ({"conditions": {"mfa_required": "perhaps"}}, ["conditions", "mfa_required"]),
        ({"conditions": {"ip_ranges": ["10.0.0.0/33"]}}, ["conditions", "ip_ranges"]),
        ({"conditions": {"ip_ranges": ["office"]}}, ["conditions", "ip_ranges"]),
        ({"conditions": {"ip_ranges": []}}, ["conditions", "ip_ranges"]),
        ({"conditions": {"ip_ranges": "10.0.0.0/8"}}, ["conditions", "ip_ranges"]),
        ({"conditions": {"time_window": {"start": "9:00", "end": "17:00"}}}, ["conditions", "time_window", "start"]),
        ({"conditions": {"time_window": {"start": "09:00", "end": "24:00"}}}, ["conditions", "time_window", "end"]),
        ({"conditions": {"time_window": {"start": "09:00"}}}, ["conditions", "time_window", "end"]),
        ({"conditions": {"time_window": {"start": "09:00", "end": "09:00"}}}, ["conditions", "time_window", "end"]),
        ({"conditions": {"time_window": {"start": "09:00", "end": "17:00", "days": [7]}}}, ["conditions", "time_window", "days"]),
        ({"conditions": {"time_window": {"start": "09:00", "end": "17:00", "days": []}}}, ["conditions", "time_window", "days"]),
        ({"conditions": {"time_window": {"start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"}}}, ["conditions", "time_window", "timezone"]),
        ({"conditions": {"time_window": {"start": "09:00", "end": "17:00", "tz": "UTC"}}}, ["conditions", "time_window", "tz"]),
    ],
)
def test_create_policy_bad_input(org, overrides, path):
    organization, members = org

    response = token_client(members["owner"].user, organization).post(org_url(organization, "policies"), policy_body(**overrides), format="json")

    assert response.status_code == 400, response.content
    assert code_of(response) == "VALIDATION_ERROR"
    details = response.json()["error"]["details"]
    for key in path:
        assert key in details, details
        details = details[key]
    assert not Policy.objects.exists()


def test_subjects_must_belong_to_this_org(org, org_factory):
    organization, members = org
    other, other_members = org_factory(roles=("owner",))
    other_team = TeamFactory(organization=other)
    Role.objects.create(organization=other, slug="theirs", name="Theirs")
    client = token_client(members["owner"].user, organization)

    response = client.post(
        org_url(organization, "policies"),
        policy_body(subjects={"roles": ["theirs"], "users": [str(other_members["owner"].user_id)], "teams": [str(other_team.id)]}),
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]["subjects"]) == {"roles", "users", "teams"}


def test_custom_roles_and_wildcard_are_valid(org):
    organization, members = org
    Role.objects.create(organization=organization, slug="contractor", name="Contractor")

    response = token_client(members["owner"].user, organization).post(
        org_url(organization, "policies"), policy_body(permissions=["*"], subjects={"roles": ["contractor"]}, conditions={}), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["permissions"] == ["*"]


def test_patch_validates_like_create(org):
    organization, members = org
    client = token_client(members["owner"].user, organization)
    created = client.post(org_url(organization, "policies"), policy_body(), format="json").json()

    empty = client.patch(org_url(organization, f"policies/{created['id']}"), {}, format="json")
    half_window = client.patch(org_url(organization, f"policies/{created['id']}"), {"conditions": {"time_window": {"start": "09:00"}}}, format="json")
    unknown = client.patch(org_url(organization, f"policies/{created['id']}"), {"conditions": {"ip_range": ["10.0.0.0/8"]}}, format="json")

    assert [empty.status_code, half_window.status_code, unknown.status_code] == [400, 400, 400]
    assert Policy.objects.get(id=created["id"]).conditions == {"mfa_required": True}


# --- no escalation ----------------------------------------------------------------------------


def test_admin_cannot_write_policies_about_permissions_they_lack(org):
    organization, members = org
    client = token_client(members["admin"].user, organization)

    self_grant = client.post(
        org_url(organization, "policies"),
        policy_body(effect="allow", permissions=["org:delete"], subjects={"users": [str(members["admin"].user_id)]}, conditions={}),
        format="json",
    )
    everything = client.post(org_url(organization, "policies"), policy_body(effect="allow", permissions=["*"], conditions={}), format="json")
    lock_owner = client.post(org_url(organization, "policies"), policy_body(permissions=["org:transfer"], subjects={"roles": ["owner"]}), format="json")

    assert [self_grant.status_code, everything.status_code, lock_owner.status_code] == [403, 403, 403]
    assert not Policy.objects.exists()


def test_lifting_an_mfa_deny_needs_mfa(org):
    organization, members = org
    policy = Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})

    plain = token_client(members["owner"].user, organization).delete(org_url(organization, f"policies/{policy.id}"))
    relaxed = token_client(members["owner"].user, organization).patch(org_url(organization, f"policies/{policy.id}"), {"conditions": {}}, format="json")
    verified = token_client(members["owner"].user, organization, mfa=True).delete(org_url(organization, f"policies/{policy.id}"))

    assert plain.status_code == 403 and relaxed.status_code == 403
    assert verified.status_code == 204


# --- enforcement on real views ----------------------------------------------------------------


def test_deny_policy_on_members_read_for_role_member_blocks_the_members_list(org):
    organization, members = org
    member = token_client(members["member"].user, organization)
    assert member.get(org_url(organization, "members")).status_code == 200

    created = token_client(members["owner"].user, organization).post(
        org_url(organization, "policies"),
        policy_body(name="hide directory", permissions=["members:read"], subjects={"roles": ["member"]}, conditions={}),
        format="json",
    )
    assert created.status_code == 201

    denied = member.get(org_url(organization, "members"))
    assert denied.status_code == 403 and code_of(denied) == "INSUFFICIENT_PERMISSIONS"
    assert "hide directory" in denied.json()["error"]["message"]
    assert token_client(members["viewer"].user, organization).get(org_url(organization, "members")).status_code == 200
    assert token_client(members["admin"].user, organization).get(org_url(organization, "members")).status_code == 200


def test_mfa_required_deny_on_org_update_needs_an_mfa_session(org):
    organization, members = org
    owner = token_client(members["owner"].user, organization)
    created = owner.post(org_url(organization, "policies"), policy_body(), format="json")
    assert created.status_code == 201

    plain = owner.patch(org_url(organization), {"name": "Renamed"}, format="json")
    verified = token_client(members["owner"].user, organization, mfa=True).patch(org_url(organization), {"name": "Renamed"}, format="json")

    assert plain.status_code == 403 and code_of(plain) == "MFA_REQUIRED"
    assert verified.status_code == 200 and verified.json()["name"] == "Renamed"
    assert owner.get(org_url(organization)).status_code == 200  # org:read is untouched


def test_mfa_required_through_login_session(org):
    from conftest import client_for

    organization, members = org
    Policy.objects.create(organization=organization, name="mfa", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})
    # Made directly, so bump as the services would.
    Organization.objects.filter(id=organization.id).update(authz_revision=organization.authz_revision + 1)

    response = client_for(members["admin"].user, organization).patch(org_url(organization), {"name": "X"}, format="json")

    assert response.status_code == 403 and code_of(response) == "MFA_REQUIRED"


def test_ip_range_deny_restricts_a_view_by_client_ip(org):
    organization, members = org
    token_client(members["owner"].user, organization, mfa=True).post(
        org_url(organization, "policies"), policy_body(name="office", conditions={"ip_ranges": ["10.0.0.0/8"]}), format="json"
    )
    owner = token_client(members["owner"].user, organization)

    outside = owner.patch(org_url(organization), {"website": "https://a.example.com"}, format="json", REMOTE_ADDR="203.0.113.9")
    inside = owner.patch(org_url(organization), {"website": "https://a.example.com"}, format="json", REMOTE_ADDR="10.20.30.40")

    assert outside.status_code == 403 and code_of(outside) == "INSUFFICIENT_PERMISSIONS"
    assert inside.status_code == 200


def test_time_window_allow_opens_a_view_only_inside_the_window(org):
    organization, members = org
    token_client(members["owner"].user, organization).post(
        org_url(organization, "policies"),
        policy_body(
            name="night shift",
            effect="allow",
            permissions=["members:invite", "roles:manage"],
            subjects={"roles": ["viewer"]},
            conditions={"time_window": {"start": "22:00", "end": "06:00"}},
        ),
        format="json",
    )

    def list_policies_at(moment: str):
        with freeze_time(moment):  # the token is issued at that moment too
            return token_client(members["viewer"].user, organization).get(org_url(organization, "policies"))

    inside = list_policies_at("2024-01-05 23:30")
    after_midnight = list_policies_at("2024-01-06 05:59")
    outside = list_policies_at("2024-01-06 12:00")

    assert inside.status_code == 200 and after_midnight.status_code == 200
    assert outside.status_code == 403


def test_team_subject_policy_applies_to_team_members(org):
    organization, members = org
    team = TeamFactory(organization=organization)
    TeamMembership.objects.create(team=team, user=members["admin"].user)
    other_admin = MembershipFactory(organization=organization, role="admin")
    token_client(members["owner"].user, organization).post(
        org_url(organization, "policies"),
        policy_body(name="team freeze", permissions=["org:update"], subjects={"teams": [str(team.id)]}, conditions={}),
        format="json",
    )

    blocked = token_client(members["admin"].user, organization).patch(org_url(organization), {"name": "A"}, format="json")
    allowed = token_client(other_admin.user, organization).patch(org_url(organization), {"name": "B"}, format="json")

    assert blocked.status_code == 403 and allowed.status_code == 200


# --- isolation --------------------------------------------------------------------------------


def test_another_orgs_policies_are_invisible_and_untouched(org, org_factory):
    organization, members = org
    other, _ = org_factory(roles=("owner",))
    theirs = Policy.objects.create(organization=other, name="theirs", effect="deny", permissions=["org:update"])
    other_revision = revision(other)
    client = token_client(members["owner"].user, organization, mfa=True)

    in_b = [
        client.get(org_url(other, "policies")),
        client.post(org_url(other, "policies"), policy_body(), format="json"),
        client.get(org_url(other, f"policies/{theirs.id}")),
        client.patch(org_url(other, f"policies/{theirs.id}"), {"name": "mine"}, format="json"),
        client.delete(org_url(other, f"policies/{theirs.id}")),
    ]
    via_a = [
        client.get(org_url(organization, f"policies/{theirs.id}")),
        client.patch(org_url(organization, f"policies/{theirs.id}"), {"name": "mine"}, format="json"),
        client.delete(org_url(organization, f"policies/{theirs.id}")),
    ]

    assert [r.status_code for r in in_b + via_a] == [404] * 8
    assert client.get(org_url(organization, "policies")).json()["total"] == 0
    theirs.refresh_from_db()
    assert theirs.name == "theirs"
    assert Policy.objects.filter(organization=other).count() == 1
    assert revision(other) == other_revision
