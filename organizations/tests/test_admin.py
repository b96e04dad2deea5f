"""Staff admin of tenants: actions call the services (audited), refusals are admin messages, not 500s."""

import secrets
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from audit.models import AuditEvent
from core import clock
from organizations.models import Invite, Membership

pytestmark = pytest.mark.django_db

MEMBERS = "/admin/organizations/membership/"
INVITES = "/admin/organizations/invite/"
ORGS = "/admin/organizations/organization/"


def _invite(organization, **fields) -> Invite:
    defaults = {"email": "guest@example.com", "role": "member", "code_hash": secrets.token_hex(32), "expires_at": clock.now() + timedelta(days=7)}
    return Invite.objects.create(organization=organization, **{**defaults, **fields})


def _messages(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def test_suspend_action_calls_the_service_and_is_audited(admin_client_otp, org_factory):
    # given
    organization, members = org_factory(roles=("owner", "member"))
    member = members["member"]
    # when
    response = admin_client_otp.post(MEMBERS, {"action": "suspend", "_selected_action": [str(member.pk)]})
    # then
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == Membership.Status.SUSPENDED
    event = AuditEvent.objects.get(action="member.suspended", organization_id=organization.id)
    assert event.actor_type == "user" and event.actor_email.startswith("user")
    assert event.target_id == str(member.user_id)


def test_suspending_the_owner_is_refused_with_an_admin_message(admin_client_otp, org_factory):
    organization, members = org_factory(roles=("owner",))
    owner = members["owner"]

    response = admin_client_otp.post(MEMBERS, {"action": "suspend", "_selected_action": [str(owner.pk)]}, follow=True)

    assert response.status_code == 200
    assert "text/html" in response["Content-Type"]
    levels = _messages(response) or [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert any(level == "error" and "owner cannot be demoted or suspended" in text for level, text in levels)
    owner.refresh_from_db()
    assert owner.status == Membership.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="member.suspended").exists()


def test_cancel_and_resend_invite_actions(admin_client_otp, org_factory, mailoutbox, django_capture_on_commit_callbacks):
    organization, _ = org_factory()
    cancelled, resent = _invite(organization), _invite(organization, email="again@example.com")

    admin_client_otp.post(INVITES, {"action": "cancel", "_selected_action": [str(cancelled.pk)]})
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_otp.post(INVITES, {"action": "resend", "_selected_action": [str(resent.pk)]})

    cancelled.refresh_from_db()
    assert cancelled.status == Invite.Status.CANCELLED
    assert AuditEvent.objects.filter(action="invite.cancelled", target_id=str(cancelled.pk)).exists()
    assert AuditEvent.objects.filter(action="invite.resent", target_id=str(resent.pk)).exists()
    assert [mail.to for mail in mailoutbox] == [["again@example.com"]]


def test_cancelling_an_accepted_invite_shows_the_services_refusal(admin_client_otp, org_factory):
    organization, _ = org_factory()
    accepted = _invite(organization, status=Invite.Status.ACCEPTED)

    response = admin_client_otp.post(INVITES, {"action": "cancel", "_selected_action": [str(accepted.pk)]}, follow=True)

    texts = [str(message) for message in response.context["messages"]]
    assert any("already accepted" in text for text in texts)
    assert accepted.code_hash not in response.content.decode()


def test_the_organization_page_shows_members_plan_usage_and_its_audit_log(admin_client_otp, org_factory):
    organization, members = org_factory(roles=("owner", "member"))

    html = admin_client_otp.get(f"{ORGS}{organization.pk}/change/").content.decode()

    assert members["member"].user.email in html  # the members inline
    assert "Plan and subscription" in html and "active members: 2" in html
    assert f"/admin/audit/auditevent/?organization_id={organization.pk}" in html


def test_staff_panel_lists_run_a_constant_number_of_queries(admin_client_otp, org_factory, django_assert_max_num_queries):
    for _ in range(3):
        organization, _members = org_factory(roles=("owner", "member"))
        _invite(organization)
    pages = (ORGS, MEMBERS, INVITES, "/admin/organizations/team/", "/admin/organizations/domain/")

    for page in pages:
        with django_assert_max_num_queries(12):
            assert admin_client_otp.get(page).status_code == 200


def test_a_session_without_mfa_cannot_act(org_factory):
    from accounts.tests.factories import UserFactory

    organization, members = org_factory(roles=("owner", "member"))
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)  # a password session, no second factor

    response = client.post(MEMBERS, {"action": "suspend", "_selected_action": [str(members["member"].pk)]})

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    members["member"].refresh_from_db()
    assert members["member"].status == Membership.Status.ACTIVE
