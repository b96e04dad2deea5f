"""Every emitting flow end to end: the real API (or the hook as its caller uses it) → the recipient's list."""

import pytest
from django.db import transaction

from accounts.tests.factories import UserFactory
from conftest import client_for
from notifications import services as notification_services
from notifications.models import Notification

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications"


@pytest.fixture
def org(org_factory):
    return org_factory(roles=("owner", "admin", "member"))


def members_url(organization, user_id=None) -> str:
    return f"/api/v1/orgs/{organization.id}/members" + (f"/{user_id}" if user_id else "")


def invites_url(organization) -> str:
    return f"/api/v1/orgs/{organization.id}/invites"


def test_role_change_notifies_the_member(org, mailoutbox, django_capture_on_commit_callbacks):
    # given
    organization, members = org
    member = members["member"].user
    admin = client_for(members["admin"].user, organization)
    # when the admin makes the member a viewer
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.patch(members_url(organization, member.id), {"role": "viewer"}, format="json")
    # then the member finds it in the app and in their mailbox
    assert response.status_code == 200, response.content
    listed = client_for(member).get(URL).json()
    assert listed["total"] == 1
    [item] = listed["data"]
    assert item["event"] == "role_changed" and item["organization_id"] == str(organization.id)
    assert item["title"] == f"Your role in {organization.name} changed" and item["data"] == {"role": "viewer", "previous_role": "member"}
    assert [m.to for m in mailoutbox] == [[member.email]] and mailoutbox[0].subject == item["title"]
    assert not Notification.objects.exclude(user=member).exists()


def test_role_change_respects_the_members_preferences(org, mailoutbox, django_capture_on_commit_callbacks):
    organization, members = org
    member = members["member"].user
    member_client = client_for(member)
    member_client.put(f"{URL}/preferences", {"preferences": {"role_changed": {"email": False}}}, format="json")
    admin = client_for(members["admin"].user, organization)
    with django_capture_on_commit_callbacks(execute=True):
        admin.patch(members_url(organization, member.id), {"role": "viewer"}, format="json")
    assert mailoutbox == [] and member_client.get(f"{URL}/unread-count").json() == {"count": 1}


def test_removal_notifies_the_removed_member(org, mailoutbox, django_capture_on_commit_callbacks):
    organization, members = org
    member = members["member"].user
    admin = client_for(members["admin"].user, organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.delete(members_url(organization, member.id))
    assert response.status_code == 204, response.content
    [item] = client_for(member).get(URL).json()["data"]
    assert item["event"] == "member_removed" and item["title"] == f"You were removed from {organization.name}"
    assert [m.to for m in mailoutbox] == [[member.email]]


def test_a_refused_change_notifies_no_one(org):
    organization, members = org
    member_client = client_for(members["member"].user, organization)
    response = member_client.patch(members_url(organization, members["admin"].user_id), {"role": "viewer"}, format="json")
    assert response.status_code == 403
    assert not Notification.objects.exists()


def test_inviting_an_existing_user_notifies_them_without_the_code(org, mailoutbox, django_capture_on_commit_callbacks):
    # given someone who already has an account
    organization, members = org
    known = UserFactory(email="known@corp.example")
    admin_user = members["admin"].user
    admin = client_for(admin_user, organization)
    # when they are invited
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(invites_url(organization), {"email": known.email, "role": "member"}, format="json")
    # then an in-app notification names the org and the inviter, but never the code
    assert response.status_code == 201, response.content
    code = response.json()["code"]
    [item] = client_for(known).get(URL).json()["data"]
    assert item["event"] == "invitation_received" and item["organization_id"] == str(organization.id)
    assert item["title"] == f"You are invited to join {organization.name}"
    assert item["body"] == f"{admin_user.email} invited you to join {organization.name} as member. Open the invitation email to accept or decline."
    assert item["data"]["invite_id"] == response.json()["id"]
    assert code not in str(list(Notification.objects.values()))
    # and the only email is the invitation itself (it carries the link)
    [message] = mailoutbox
    assert message.to == [known.email] and code in message.body


def test_inviting_a_stranger_creates_no_notification(org, mailoutbox, django_capture_on_commit_callbacks):
    organization, members = org
    admin = client_for(members["admin"].user, organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(invites_url(organization), {"email": "new@corp.example", "role": "member"}, format="json")
    assert response.status_code == 201
    assert not Notification.objects.exists() and len(mailoutbox) == 1


def test_payment_failed_as_billing_sends_it(org, mailoutbox, django_capture_on_commit_callbacks):
    # billing calls the hook after its own commit, with Stripe's invoice details.
    organization, members = org
    owner = members["owner"].user
    details = {"invoice_id": "in_1", "amount_due": 1200, "currency": "usd", "attempt_count": 1, "hosted_invoice_url": "https://pay.stripe.test/x"}
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            transaction.on_commit(
                lambda: notification_services.notify(event="payment_failed", user=owner, organization=organization, context=details),
                robust=True,
            )
    [item] = client_for(owner).get(URL).json()["data"]
    assert item["event"] == "payment_failed" and "hosted_invoice_url" not in item["data"]
    assert [m.to for m in mailoutbox] == [[owner.email]]


def test_subscription_changed_through_the_hook(org, mailoutbox, django_capture_on_commit_callbacks):
    organization, members = org
    owner = members["owner"].user
    with django_capture_on_commit_callbacks(execute=True):
        notification_services.notify(
            event="subscription_changed",
            user=owner,
            organization=organization,
            context={"plan": "team", "previous_plan": "pro"},
        )
    [item] = client_for(owner).get(URL).json()["data"]
    assert item["event"] == "subscription_changed" and item["data"] == {"plan": "team", "previous_plan": "pro"}
    assert len(mailoutbox) == 1


def test_integration_failure_reaches_owner_and_admins(org, django_capture_on_commit_callbacks, mailoutbox):
    from notifications.services import notify_org_admins

    organization, members = org
    with django_capture_on_commit_callbacks(execute=True):
        notify_org_admins(organization=organization, event="integration_failed", context={"provider": "slack"})
    for role, expected in (("owner", 1), ("admin", 1), ("member", 0)):
        assert client_for(members[role].user).get(f"{URL}/unread-count").json() == {"count": expected}
    assert len(mailoutbox) == 2
