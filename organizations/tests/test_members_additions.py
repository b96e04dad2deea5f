"""Direct member add, revoke with a reason, and what admins may not change (API.md v1.1 "Organizations and members additions")."""

import pytest

from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from conftest import client_for
from core import clock, entitlements
from notifications.models import Notification
from organizations.models import Domain, Membership
from permissions.models import Role

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")


def code_of(response) -> str:
    return response.json()["error"]["code"]


def url(organization, suffix=""):
    return f"/api/v1/orgs/{organization.id}{suffix}"


@pytest.fixture
def team(org_factory, unlimited_plan):
    organization, members = org_factory(roles=ROLES)
    Domain.objects.create(organization=organization, domain="acme.test", verification_token="t", verified_at=clock.now())
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients


def newcomer(email="grace@acme.test", *, verified=True):
    return UserFactory(email=email, email_verified_at=clock.now() if verified else None)


def add(client, organization, **body):
    return client.post(url(organization, "/members"), body, format="json")


# --- direct add --------------------------------------------------------------------------------


def test_admin_adds_a_verified_user_of_a_verified_domain_with_the_default_role(team):
    organization, members, clients = team
    organization.settings = {"default_role": "viewer"}
    organization.save()
    user = newcomer()

    response = add(clients["admin"], organization, email="Grace@acme.test")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["user_id"], body["email"], body["role"], body["status"], body["status_reason"]) == (str(user.id), user.email, "viewer", "active", "")
    assert Membership.objects.get(organization=organization, user=user).role == "viewer"
    event = AuditEvent.objects.get(action="member.added", organization_id=organization.id)
    assert event.actor_id == members["admin"].user_id and event.target_id == str(user.id)
    assert event.changes == {"role": [None, "viewer"]} and event.metadata == {"source": "direct"}
    assert Notification.objects.filter(user=user, organization_id=organization.id).exists()


def test_direct_add_takes_a_role_the_caller_may_give(team):
    organization, _, clients = team
    newcomer()

    response = add(clients["admin"], organization, email="grace@acme.test", role="admin")

    assert response.status_code == 201 and response.json()["role"] == "admin"


@pytest.mark.parametrize(
    "email,verified,domain_verified",
    [
        ("grace@acme.test", False, True),  # unverified address: proves nothing about the mailbox
        ("grace@acme.test", True, False),  # the org has not proved it owns the domain
        ("grace@elsewhere.test", True, True),  # verified, but at a domain the org does not hold
        ("nobody@acme.test", None, True),  # no account at all: same answer, existence not revealed
    ],
)
def test_anyone_else_is_pointed_to_invites(team, email, verified, domain_verified):
    organization, _, clients = team
    if verified is not None:
        newcomer(email, verified=verified)
    if not domain_verified:
        Domain.objects.filter(organization=organization).update(verified_at=None)

    response = add(clients["admin"], organization, email=email)

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert "invite" in response.json()["error"]["details"]["email"][0]
    assert not Membership.objects.filter(organization=organization, user__email__iexact=email).exists()


def test_a_domain_verified_by_another_org_does_not_count(team, org_factory):
    organization, _, clients = team
    other, _ = org_factory()
    Domain.objects.create(organization=other, domain="other.test", verification_token="t", verified_at=clock.now())
    newcomer("ada@other.test")

    response = add(clients["admin"], organization, email="ada@other.test")

    assert response.status_code == 400


def test_allowed_email_domains_still_apply(team):
    organization, _, clients = team
    organization.settings = {"allowed_email_domains": ["corp.test"]}
    organization.save()
    newcomer()

    response = add(clients["admin"], organization, email="grace@acme.test")

    assert response.status_code == 400 and "corp.test" in response.json()["error"]["message"]


def test_an_existing_member_is_a_conflict(team):
    organization, members, clients = team
    user = newcomer()
    Membership.objects.create(organization=organization, user=user, role="member")

    assert add(clients["admin"], organization, email=user.email).status_code == 409


def test_the_member_limit_gives_402(team, monkeypatch):
    organization, _, clients = team
    newcomer()
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: 4 if name == "max_members" else None)

    response = add(clients["admin"], organization, email="grace@acme.test")

    assert response.status_code == 402 and code_of(response) == "PLAN_LIMIT_REACHED"


def test_no_escalation_through_the_role_given(team):
    organization, members, clients = team
    Role.objects.create(organization=organization, slug="treasurer", name="Treasurer", permissions=["billing:manage"])
    newcomer()

    owner_role = add(clients["admin"], organization, email="grace@acme.test", role="owner")
    beyond = add(clients["admin"], organization, email="grace@acme.test", role="treasurer")

    assert owner_role.status_code == 403 and beyond.status_code == 403
    assert code_of(beyond) == "INSUFFICIENT_PERMISSIONS"
    assert not Membership.objects.filter(organization=organization, user__email="grace@acme.test").exists()


def test_a_default_role_beyond_the_caller_is_refused_too(team):
    organization, _, clients = team
    Role.objects.create(organization=organization, slug="treasurer", name="Treasurer", permissions=["billing:manage"])
    organization.settings = {"default_role": "treasurer"}
    organization.save()
    newcomer()

    assert add(clients["admin"], organization, email="grace@acme.test").status_code == 403


def test_members_and_viewers_cannot_add_and_other_orgs_cannot_reach(team, org_factory):
    organization, _, clients = team
    newcomer()
    stranger_org, stranger = org_factory(roles=("owner",))
    stranger_client = client_for(stranger["owner"].user, stranger_org)

    for role in ("member", "viewer"):
        response = add(clients[role], organization, email="grace@acme.test")
        assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert add(stranger_client, organization, email="grace@acme.test").status_code == 404


def test_direct_add_refuses_unknown_fields(team):
    organization, _, clients = team
    newcomer()

    response = add(clients["admin"], organization, email="grace@acme.test", status="active")

    assert response.status_code == 400 and "status" in response.json()["error"]["details"]


# --- revoke --------------------------------------------------------------------------------------


def revoke(client, organization, membership, reason="Left the company"):
    return client.post(url(organization, f"/members/{membership.user_id}/revoke"), {"reason": reason}, format="json")


def test_admin_revokes_a_member_with_a_reason_shown_on_the_member(team):
    organization, members, clients = team

    response = revoke(clients["admin"], organization, members["member"])

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["status_reason"]) == ("suspended", "Left the company")
    listed = {m["user_id"]: m for m in clients["admin"].get(url(organization, "/members")).json()["data"]}
    assert listed[str(members["member"].user_id)]["status_reason"] == "Left the company"
    event = AuditEvent.objects.get(action="member.suspended", organization_id=organization.id)
    assert event.changes["status"] == ["active", "suspended"] and event.metadata == {"reason": "Left the company", "via": "revoke"}
    # The revoked member is out at once.
    assert clients["member"].get(url(organization)).json()["error"]["code"] == "INVALID_ORG_CONTEXT"


def test_reactivating_clears_the_reason(team):
    organization, members, clients = team
    revoke(clients["admin"], organization, members["member"])

    response = clients["admin"].patch(url(organization, f"/members/{members['member'].user_id}"), {"status": "active"}, format="json")

    assert response.status_code == 200 and response.json()["status_reason"] == ""


def test_the_owner_cannot_be_revoked(team):
    organization, members, clients = team

    response = revoke(clients["admin"], organization, members["owner"])

    assert response.status_code == 403
    assert Membership.objects.get(id=members["owner"].id).status == "active"


def test_no_revoking_a_better(team):
    organization, members, clients = team
    Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["members:update", "members:read"])
    manager = Membership.objects.create(organization=organization, user=UserFactory(), role="auditor")
    manager_client = client_for(manager.user, organization)

    response = revoke(manager_client, organization, members["admin"])

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert Membership.objects.get(id=members["admin"].id).status == "active"


def test_revoke_needs_members_update_a_reason_and_not_yourself(team, org_factory):
    organization, members, clients = team
    other, _ = org_factory()

    assert revoke(clients["member"], organization, members["viewer"]).status_code == 403
    assert revoke(clients["admin"], organization, members["viewer"], reason="").status_code == 400
    assert revoke(clients["admin"], organization, members["admin"]).status_code == 400
    stranger = client_for(org_factory(roles=("owner",))[1]["owner"].user)
    assert stranger.post(url(organization, f"/members/{members['viewer'].user_id}/revoke"), {"reason": "x"}, format="json").status_code == 404


# --- what org admins cannot change ---------------------------------------------------------------


@pytest.mark.parametrize("field,value", [("full_name", "Renamed"), ("name", "Renamed"), ("email", "new@acme.test"), ("first_name", "R")])
def test_admins_cannot_change_a_members_name_or_email(team, field, value):
    organization, members, clients = team
    user = members["member"].user

    response = clients["admin"].patch(url(organization, f"/members/{user.id}"), {field: value}, format="json")

    assert response.status_code == 400 and field in response.json()["error"]["details"]
    user.refresh_from_db()
    assert value not in (user.full_name, user.email)


# --- a member's roles ----------------------------------------------------------------------------


def test_member_roles_lists_base_and_assigned_roles(team, org_factory):
    organization, members, clients = team
    auditor = Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["audit:read"])
    assert (
        clients["owner"]
        .post(url(organization, "/role-assignments"), {"user_id": str(members["viewer"].user_id), "role_id": str(auditor.id)}, format="json")
        .status_code
        == 201
    )

    response = clients["viewer"].get(url(organization, f"/members/{members['viewer'].user_id}/roles"))

    assert response.status_code == 200
    data = response.json()["data"]
    assert [(r["slug"], r["source"]) for r in data] == [("viewer", "base"), ("auditor", "assignment")]
    assert data[1] == {"id": str(auditor.id), "slug": "auditor", "name": "Auditor", "source": "assignment"}
    stranger = client_for(org_factory(roles=("owner",))[1]["owner"].user)
    assert stranger.get(url(organization, f"/members/{members['viewer'].user_id}/roles")).status_code == 404
    assert clients["viewer"].get(url(organization, f"/members/{UserFactory().id}/roles")).status_code == 404
