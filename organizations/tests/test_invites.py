"""Invitations: org side (create, refresh, list, cancel, resend) and public side (view, accept, decline)."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from freezegun import freeze_time
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from accounts.tokens import hash_secret
from audit.models import AuditEvent
from conftest import client_for
from core import clock, entitlements
from core.actor import Actor
from notifications import services as notification_services
from organizations import tasks
from organizations.models import Invite, Membership, TeamMembership
from organizations.tests.factories import MembershipFactory, TeamFactory
from permissions.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _unlimited_plan(monkeypatch):
    """Plan limits are the billing app's business: here every org has room unless a test says otherwise."""
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: None)


def code_of(response) -> str:
    return response.json()["error"]["code"]


def invites_url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.id}/invites{suffix}"


def invite(client, organization, email="new@corp.example", role="member", **extra):
    return client.post(invites_url(organization), {"email": email, "role": role, **extra}, format="json")


def verified_user(email: str) -> User:
    user = UserFactory(email=email)
    user.email_verified_at = clock.now()
    user.save(update_fields=["email_verified_at"])
    return user


# --- create ---------------------------------------------------------------------------------


def test_create_returns_code_once_stores_only_its_hash_and_emails_the_link(org, admin_client, mailoutbox, django_capture_on_commit_callbacks):
    organization, members = org
    team = TeamFactory(organization=organization)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(admin_client, organization, email="New.Person@Corp.example", role="admin", team_ids=[str(team.id)])
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"id", "email", "role", "code", "invite_url", "expires_at", "status"}
    assert body["email"] == "new.person@corp.example" and body["role"] == "admin" and body["status"] == "pending"
    assert len(body["code"]) >= 32
    assert body["invite_url"] == f"{settings.FRONTEND_URL}/join/{body['code']}"
    assert body["teams"] == [{"id": str(team.id), "name": team.name}]
    stored = Invite.objects.get(id=body["id"])
    assert stored.code_hash == hash_secret(body["code"]) and body["code"] not in stored.code_hash
    assert abs(stored.expires_at - (clock.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert stored.invited_by_id == members["admin"].user_id
    event = AuditEvent.objects.get(action="member.invited")
    assert event.organization_id == organization.id and event.target_id == str(stored.id)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new.person@corp.example"]
    assert body["invite_url"] in mailoutbox[0].body and organization.name in mailoutbox[0].subject
    assert body["invite_url"] in mailoutbox[0].alternatives[0][0]
    # the code is never shown again
    listed = admin_client.get(invites_url(organization)).json()["data"][0]
    detail = admin_client.get(invites_url(organization, f"/{stored.id}")).json()
    for shown in (listed, detail):
        assert "code" not in shown and "invite_url" not in shown and body["code"] not in str(shown)


def test_expiry_comes_from_settings(org, admin_client, settings):
    settings.INVITE_EXPIRY_DAYS = 2
    organization, _ = org
    body = invite(admin_client, organization).json()
    expires = Invite.objects.get(id=body["id"]).expires_at
    assert abs(expires - (clock.now() + timedelta(days=2))) < timedelta(minutes=1)


def test_reinviting_a_pending_email_refreshes_it(org, admin_client, mailoutbox, django_capture_on_commit_callbacks):
    organization, _ = org
    first = invite(admin_client, organization, email="again@corp.example").json()
    Invite.objects.filter(id=first["id"]).update(expires_at=clock.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(admin_client, organization, email="AGAIN@corp.example", role="viewer")
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["id"] == first["id"] and second["code"] != first["code"] and second["role"] == "viewer"
    assert Invite.objects.get(id=first["id"]).expires_at > clock.now() + timedelta(days=6)
    assert Invite.objects.filter(organization=organization).count() == 1
    assert APIClient().get(f"/api/v1/invites/{first['code']}").status_code == 404
    assert APIClient().get(f"/api/v1/invites/{second['code']}").status_code == 200
    assert len(mailoutbox) == 1


def test_inviting_a_member_is_conflict(org, admin_client):
    organization, members = org
    response = invite(admin_client, organization, email=members["viewer"].user.email.upper())
    assert response.status_code == 409 and code_of(response) == "CONFLICT"
    assert not Invite.objects.exists()


def test_owner_role_is_refused_and_unknown_role_is_400(org, admin_client):
    organization, _ = org
    owner = invite(admin_client, organization, role="owner")
    unknown = invite(admin_client, organization, role="wizard")
    assert owner.status_code == 403 and code_of(owner) == "INSUFFICIENT_PERMISSIONS"
    assert unknown.status_code == 400 and "role" in unknown.json()["error"]["details"]
    assert not Invite.objects.exists() and not AuditEvent.objects.filter(action="member.invited").exists()


def test_team_ids_must_be_teams_of_this_org(org, admin_client, org_factory):
    organization, _ = org
    other_org, _ = org_factory()
    mine, foreign = TeamFactory(organization=organization), TeamFactory(organization=other_org)
    response = invite(admin_client, organization, team_ids=[str(mine.id), str(foreign.id)])
    assert response.status_code == 400 and "team_ids" in response.json()["error"]["details"]
    assert not Invite.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"email": "not-an-email", "role": "member"}, {"email": "a@b.example", "role": "member", "team_ids": ["x"]}])
def test_bad_input_is_400_in_the_envelope(org, admin_client, payload):
    organization, _ = org
    response = admin_client.post(invites_url(organization), payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["details"] and error["request_id"]
    assert not Invite.objects.exists()


def test_member_cannot_invite_but_can_list(org):
    organization, members = org
    client = client_for(members["member"].user, organization)
    assert invite(client, organization).status_code == 403
    assert client.get(invites_url(organization)).status_code == 200


def test_inviter_cannot_grant_a_role_above_their_own(org):
    organization, _ = org
    Role.objects.create(organization=organization, slug="recruiter", name="Recruiter", permissions=["members:invite", "members:read"])
    recruiter = MembershipFactory(organization=organization, role="recruiter")
    client = client_for(recruiter.user, organization)
    refused = invite(client, organization, role="admin")
    assert refused.status_code == 403 and code_of(refused) == "INSUFFICIENT_PERMISSIONS"
    assert invite(client, organization, role="recruiter").status_code == 201
    assert list(Invite.objects.values_list("role", flat=True)) == ["recruiter"]


def test_plan_limit_counts_members_and_pending_invites(org, admin_client, monkeypatch):
    organization, _ = org  # 4 active members
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: 5 if name == "max_members" else None)
    assert invite(admin_client, organization, email="fifth@corp.example").status_code == 201
    refused = invite(admin_client, organization, email="sixth@corp.example")
    assert refused.status_code == 402 and code_of(refused) == "PLAN_LIMIT_REACHED"
    assert refused.json()["error"]["details"]["used"] == 5
    # refreshing the pending one takes no extra seat
    assert invite(admin_client, organization, email="fifth@corp.example").status_code == 200
    assert Invite.objects.count() == 1
    # a lapsed one holds no seat: reviving it needs one again
    lapsed = Invite.objects.get()
    Invite.objects.filter(id=lapsed.id).update(expires_at=clock.now() - timedelta(minutes=1))
    MembershipFactory(organization=organization)
    assert invite(admin_client, organization, email="fifth@corp.example").status_code == 402
    assert admin_client.post(invites_url(organization, f"/{lapsed.id}/resend")).status_code == 402
    assert Invite.objects.get().expires_at < clock.now()


def test_existing_user_is_notified(org, admin_client, monkeypatch):
    organization, _ = org
    existing = UserFactory(email="known@corp.example")
    calls = []
    monkeypatch.setattr(notification_services, "notify", lambda **kwargs: calls.append(kwargs))
    body = invite(admin_client, organization, email="known@corp.example").json()
    invite(admin_client, organization, email="stranger@corp.example")
    assert len(calls) == 1
    assert calls[0]["event"] == "invitation_received" and calls[0]["user"] == existing
    assert calls[0]["organization"] == organization and body["code"] not in str(calls[0]["context"])


# --- list / get / cancel / resend --------------------------------------------------------------


def test_list_is_paginated_and_filters_by_effective_status(org, admin_client):
    organization, _ = org
    for n in range(3):
        invite(admin_client, organization, email=f"p{n}@corp.example")
    Invite.objects.filter(email="p0@corp.example").update(expires_at=clock.now() - timedelta(minutes=1))
    Invite.objects.filter(email="p1@corp.example").update(status=Invite.Status.CANCELLED)
    body = admin_client.get(invites_url(organization) + "?limit=2").json()
    assert body["total"] == 3 and body["limit"] == 2 and body["total_pages"] == 2 and len(body["data"]) == 2
    by_status = lambda s: [i["email"] for i in admin_client.get(invites_url(organization) + f"?status={s}").json()["data"]]  # noqa: E731
    assert by_status("pending") == ["p2@corp.example"]
    assert by_status("expired") == ["p0@corp.example"]
    assert by_status("cancelled") == ["p1@corp.example"]
    bad = admin_client.get(invites_url(organization) + "?status=bogus")
    assert bad.status_code == 400 and "status" in bad.json()["error"]["details"]


def test_list_query_count_is_constant(org, admin_client, django_assert_max_num_queries):
    organization, members = org
    teams = [TeamFactory(organization=organization) for _ in range(3)]

    def grow(to: int):
        for n in range(Invite.objects.count(), to):
            created = Invite.objects.create(
                organization=organization,
                email=f"bulk{n}@corp.example",
                role="member",
                code_hash=f"{n:064d}",
                invited_by=members["admin"].user,
                expires_at=clock.now() + timedelta(days=1),
            )
            created.teams.set(teams)

    grow(10)
    with django_assert_max_num_queries(10):
        assert admin_client.get(invites_url(organization) + "?limit=100").json()["total"] == 10
    grow(60)
    with django_assert_max_num_queries(10):
        assert admin_client.get(invites_url(organization) + "?limit=100").json()["total"] == 60


def test_cancel_kills_the_link(org, admin_client):
    organization, _ = org
    body = invite(admin_client, organization).json()
    response = admin_client.delete(invites_url(organization, f"/{body['id']}"))
    assert response.status_code == 204
    assert Invite.objects.get(id=body["id"]).status == "cancelled"
    assert AuditEvent.objects.filter(action="invite.cancelled", target_id=body["id"]).exists()
    assert APIClient().get(f"/api/v1/invites/{body['code']}").json()["status"] == "cancelled"
    accept = APIClient().post(f"/api/v1/invites/{body['code']}/accept", {"full_name": "X", "password": DEFAULT_PASSWORD}, format="json")
    assert accept.status_code == 400 and "code" in accept.json()["error"]["details"]
    assert admin_client.delete(invites_url(organization, f"/{body['id']}")).status_code == 204  # idempotent


def test_cancel_of_an_accepted_invite_is_conflict(org, admin_client):
    organization, _ = org
    body = invite(admin_client, organization).json()
    Invite.objects.filter(id=body["id"]).update(status=Invite.Status.ACCEPTED)
    response = admin_client.delete(invites_url(organization, f"/{body['id']}"))
    assert response.status_code == 409 and code_of(response) == "CONFLICT"


def test_resend_issues_a_new_code_and_expiry_and_emails_again(org, admin_client, mailoutbox, django_capture_on_commit_callbacks):
    organization, _ = org
    first = invite(admin_client, organization).json()
    Invite.objects.filter(id=first["id"]).update(expires_at=clock.now() - timedelta(days=1))  # expired: resend revives it
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(invites_url(organization, f"/{first['id']}/resend"))
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["code"] != first["code"] and second["status"] == "pending"
    assert second["invite_url"] == f"{settings.FRONTEND_URL}/join/{second['code']}"
    assert APIClient().get(f"/api/v1/invites/{first['code']}").status_code == 404
    assert len(mailoutbox) == 1 and second["invite_url"] in mailoutbox[0].body
    assert AuditEvent.objects.filter(action="invite.resent", target_id=first["id"]).exists()


def test_resend_of_a_cancelled_invite_is_conflict(org, admin_client):
    organization, _ = org
    body = invite(admin_client, organization).json()
    admin_client.delete(invites_url(organization, f"/{body['id']}"))
    response = admin_client.post(invites_url(organization, f"/{body['id']}/resend"))
    assert response.status_code == 409


def test_email_task_skips_a_stale_or_cancelled_code(org, admin_client, mailoutbox):
    organization, _ = org
    first = invite(admin_client, organization).json()
    second = admin_client.post(invites_url(organization, f"/{first['id']}/resend")).json()
    tasks.send_invite_email(first["id"], first["code"])
    assert mailoutbox == []
    tasks.send_invite_email(first["id"], second["code"])
    assert len(mailoutbox) == 1
    Invite.objects.filter(id=first["id"]).update(status=Invite.Status.CANCELLED)
    tasks.send_invite_email(first["id"], second["code"])
    assert len(mailoutbox) == 1


# --- public: view, accept, decline ----------------------------------------------------------


@pytest.fixture
def issued(org, admin_client):
    organization, _ = org
    team = TeamFactory(organization=organization)
    body = invite(admin_client, organization, email="joiner@corp.example", role="viewer", team_ids=[str(team.id)]).json()
    body["team"] = team
    return body


def test_public_view(org, issued):
    organization, _ = org
    response = APIClient().get(f"/api/v1/invites/{issued['code']}")
    assert response.status_code == 200
    assert response.json() == {
        "organization": {"name": organization.name, "slug": organization.slug},
        "email": "joiner@corp.example",
        "role": "viewer",
        "expires_at": issued["expires_at"],
        "status": "pending",
    }
    missing = APIClient().get("/api/v1/invites/not-a-real-code")
    assert missing.status_code == 404 and code_of(missing) == "NOT_FOUND"


def test_signed_in_invitee_accepts_and_joins_org_and_teams(org, issued):
    organization, _ = org
    joiner = verified_user("joiner@corp.example")
    client = client_for(joiner)
    response = client.post(f"/api/v1/invites/{issued['code']}/accept")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "organization": {"id": str(organization.id), "name": organization.name, "slug": organization.slug},
        "role": "viewer",
    }
    assert Membership.objects.get(organization=organization, user=joiner).role == "viewer"
    assert TeamMembership.objects.filter(team=issued["team"], user=joiner).exists()
    stored = Invite.objects.get(id=issued["id"])
    assert stored.status == "accepted" and stored.responded_at is not None
    actions = set(AuditEvent.objects.filter(organization_id=organization.id).values_list("action", flat=True))
    assert {"invite.accepted", "member.joined", "team.member_added"} <= actions
    again = client.post(f"/api/v1/invites/{issued['code']}/accept")
    assert again.status_code == 400 and "code" in again.json()["error"]["details"]


def test_invite_for_another_email_is_forbidden(org, issued):
    organization, _ = org
    stranger = verified_user("stranger@corp.example")
    response = client_for(stranger).post(f"/api/v1/invites/{issued['code']}/accept")
    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    assert not Membership.objects.filter(organization=organization, user=stranger).exists()
    assert Invite.objects.get(id=issued["id"]).status == "pending"


def test_unverified_matching_account_must_verify_first(org, issued):
    organization, _ = org
    joiner = UserFactory(email="joiner@corp.example")
    response = client_for(joiner).post(f"/api/v1/invites/{issued['code']}/accept")
    assert response.status_code == 403 and "Verify" in response.json()["error"]["message"]
    assert not Membership.objects.filter(organization=organization, user=joiner).exists()


def test_anonymous_accept_creates_an_unverified_account_and_signs_in(org, issued):
    organization, _ = org
    response = APIClient().post(f"/api/v1/invites/{issued['code']}/accept", {"full_name": "Jo Iner", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    # The inviter holds the code too: it proves nothing about the mailbox (API.md invariant 3).
    assert body["user"]["email"] == "joiner@corp.example" and body["user"]["email_verified"] is False
    assert body["organization"]["id"] == str(organization.id) and body["organization"]["role"] == "viewer"
    assert AccessToken(body["access_token"])["org_id"] == str(organization.id) and body["refresh_token"]
    user = User.objects.get(email="joiner@corp.example")
    assert user.full_name == "Jo Iner" and user.check_password(DEFAULT_PASSWORD)
    assert Membership.objects.get(organization=organization, user=user).role == "viewer"
    assert TeamMembership.objects.filter(team=issued["team"], user=user).exists()
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert me.get(f"/api/v1/orgs/{organization.id}").status_code == 200


def test_anonymous_accept_when_the_account_exists_is_conflict(org, issued):
    UserFactory(email="joiner@corp.example")
    response = APIClient().post(f"/api/v1/invites/{issued['code']}/accept", {"full_name": "J", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 409 and "sign in" in response.json()["error"]["message"]
    assert Invite.objects.get(id=issued["id"]).status == "pending"
    assert not Membership.objects.filter(user__email="joiner@corp.example").exists()


@pytest.mark.parametrize(
    "payload, field",
    [({}, "password"), ({"full_name": "J"}, "password"), ({"password": DEFAULT_PASSWORD}, "full_name"), ({"full_name": "J", "password": "123"}, "password")],
)
def test_anonymous_accept_bad_input_writes_nothing(org, issued, payload, field):
    response = APIClient().post(f"/api/v1/invites/{issued['code']}/accept", payload, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["details"]
    assert not User.objects.filter(email="joiner@corp.example").exists()
    assert Invite.objects.get(id=issued["id"]).status == "pending"
    assert not AuditEvent.objects.filter(action="invite.accepted").exists()


def test_expired_invite_cannot_be_accepted(org, issued):
    with freeze_time(clock.now() + timedelta(days=8)):
        view = APIClient().get(f"/api/v1/invites/{issued['code']}")
        accept = APIClient().post(f"/api/v1/invites/{issued['code']}/accept", {"full_name": "J", "password": DEFAULT_PASSWORD}, format="json")
    assert view.json()["status"] == "expired"
    assert accept.status_code == 400 and accept.json()["error"]["details"]["code"] == ["This invitation has expired."]
    assert not User.objects.filter(email="joiner@corp.example").exists()


def test_decline(org, issued):
    organization, _ = org
    response = APIClient().post(f"/api/v1/invites/{issued['code']}/decline")
    assert response.status_code == 204
    assert Invite.objects.get(id=issued["id"]).status == "declined"
    assert AuditEvent.objects.filter(action="invite.declined", organization_id=organization.id).exists()
    accept = APIClient().post(f"/api/v1/invites/{issued['code']}/accept", {"full_name": "J", "password": DEFAULT_PASSWORD}, format="json")
    assert accept.status_code == 400 and accept.json()["error"]["details"]["code"] == ["This invitation was declined."]
    assert APIClient().post(f"/api/v1/invites/{issued['code']}/decline").status_code == 400
    assert APIClient().post("/api/v1/invites/unknown/decline").status_code == 404


# --- isolation --------------------------------------------------------------------------------


def test_another_orgs_invites_are_invisible_and_untouchable(org, admin_client, org_factory):
    organization, _ = org
    other, other_members = org_factory(roles=("owner",))
    theirs = invite(client_for(other_members["owner"].user, other), other, email="theirs@corp.example").json()
    before = Invite.objects.values().get(id=theirs["id"])
    # through their org's path: not a member → 404
    assert admin_client.get(invites_url(other)).status_code == 404
    assert admin_client.get(invites_url(other, f"/{theirs['id']}")).status_code == 404
    assert invite(admin_client, other).status_code == 404
    assert admin_client.delete(invites_url(other, f"/{theirs['id']}")).status_code == 404
    assert admin_client.post(invites_url(other, f"/{theirs['id']}/resend")).status_code == 404
    # through my org's path with their invite id: 404 too
    assert admin_client.get(invites_url(organization, f"/{theirs['id']}")).status_code == 404
    assert admin_client.delete(invites_url(organization, f"/{theirs['id']}")).status_code == 404
    assert admin_client.post(invites_url(organization, f"/{theirs['id']}/resend")).status_code == 404
    assert theirs["id"] not in str(admin_client.get(invites_url(organization)).json())
    assert Invite.objects.values().get(id=theirs["id"]) == before
    assert Invite.objects.filter(organization=other).count() == 1


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_accepts_make_one_membership():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    from organizations import invites
    from organizations.tests.factories import OrganizationFactory

    organization = OrganizationFactory()
    MembershipFactory(organization=organization, role="owner")
    joiner = verified_user("racer@corp.example")
    issued = invites.invite_create(organization=organization, email=joiner.email, role="member", actor=Actor.system())
    clients = [client_for(joiner), client_for(joiner)]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def accept(client):
        try:
            barrier.wait()
            statuses.append(client.post(f"/api/v1/invites/{issued.code}/accept").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400]
    assert Membership.objects.filter(organization=organization, user=joiner).count() == 1
    assert Invite.objects.get(id=issued.invite.id).status == "accepted"
    assert AuditEvent.objects.filter(action="invite.accepted").count() == 1
