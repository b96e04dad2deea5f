"""notify(): rows and emails per preferences, the catalog's rendering, and never breaking the caller."""

import logging

import pytest
from django.conf import settings
from django.db import DatabaseError, transaction

from accounts.tests.factories import UserFactory
from core import hooks
from notifications import catalog, selectors, services, tasks
from notifications import services as notification_services
from notifications.models import Notification, NotificationPreference
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def prefer(user, *, email_enabled=True, in_app_enabled=True, **events):
    return NotificationPreference.objects.create(user=user, email_enabled=email_enabled, in_app_enabled=in_app_enabled, preferences=events)


def test_notify_writes_the_row_and_emails_it_after_commit(mailoutbox, django_capture_on_commit_callbacks):
    # given
    user = UserFactory(full_name="Ada Lovelace")
    organization = OrganizationFactory(name="Acme")
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification = services.notify(event="role_changed", user=user, organization=organization, context={"role": "admin"})
    # then
    assert len(callbacks) == 1
    stored = Notification.objects.get()
    assert stored == notification and stored.user == user and stored.organization == organization
    assert stored.event == "role_changed" and stored.read_at is None
    assert stored.title == "Your role in Acme changed"
    assert stored.body == "Your role in Acme is now admin."
    assert stored.data == {"role": "admin"}
    [message] = mailoutbox
    assert message.to == [user.email] and message.subject == "Your role in Acme changed"
    assert "Your role in Acme is now admin." in message.body and settings.FRONTEND_URL in message.body
    assert "Ada Lovelace" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and f'href="{settings.FRONTEND_URL}"' in html


def test_no_email_leaves_before_the_commit(mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory()
    organization = OrganizationFactory()  # before the capture: creating an org queues a cache drop on commit
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.notify(event="member_removed", user=user, organization=organization, context={})
    assert len(callbacks) == 1 and mailoutbox == []
    assert Notification.objects.filter(user=user).count() == 1


def test_email_off_globally_keeps_the_row_and_sends_nothing(mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory()
    prefer(user, email_enabled=False)
    organization = OrganizationFactory()  # before the capture: creating an org queues a cache drop on commit
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification = services.notify(event="payment_failed", user=user, organization=organization, context={})
    assert notification is not None and callbacks == [] and mailoutbox == []


def test_a_committed_notification_is_handed_to_the_live_delivery_hook(monkeypatch, django_capture_on_commit_callbacks):

    delivered = []
    monkeypatch.setattr(hooks.notification_created, "providers", (lambda notification: delivered.append(notification),))
    user = UserFactory()
    organization = OrganizationFactory()  # before the capture: creating an org queues a cache drop on commit
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = services.notify(event="member_removed", user=user, organization=organization, context={})
    assert delivered == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert delivered == [notification]


def test_in_app_off_globally_writes_no_row_but_still_emails(mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory()
    prefer(user, in_app_enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notify(event="payment_failed", user=user, organization=OrganizationFactory(name="Acme"), context={})
    assert notification is None and not Notification.objects.exists()
    [message] = mailoutbox
    assert message.subject == "Payment failed for Acme" and message.to == [user.email]


def test_both_channels_off_does_nothing(mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory()
    prefer(user, email_enabled=False, in_app_enabled=False)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.notify(event="role_changed", user=user, organization=None, context={"role": "viewer"}) is None
    assert callbacks == [] and mailoutbox == [] and not Notification.objects.exists()


@pytest.mark.parametrize(
    ("choice", "row", "emailed"),
    [
        ({"email": False}, True, False),
        ({"in_app": False}, False, True),
        ({"email": False, "in_app": False}, False, False),
        ({}, True, True),
    ],
)
def test_per_event_choices_override_the_defaults(choice, row, emailed, mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory()
    prefer(user, role_changed=choice)
    organization_1 = OrganizationFactory()  # before the capture: creating an org queues a cache drop on commit
    organization_2 = OrganizationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(event="role_changed", user=user, organization=organization_1, context={"role": "viewer"})
        # Another event is untouched by role_changed's choice.
        services.notify(event="member_removed", user=user, organization=organization_2, context={})
    assert Notification.objects.filter(event="role_changed").exists() is row
    assert [m.subject.startswith("Your role") for m in mailoutbox].count(True) == int(emailed)
    assert Notification.objects.filter(event="member_removed").exists()


def test_per_event_choice_cannot_beat_the_global_switch(mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory()
    prefer(user, email_enabled=False, invitation_received={"email": True})
    organization = OrganizationFactory()  # before the capture: creating an org queues a cache drop on commit
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(event="invitation_received", user=user, organization=organization, context={})
    assert mailoutbox == [] and Notification.objects.count() == 1


def test_invitation_received_is_in_app_only_by_default(mailoutbox, django_capture_on_commit_callbacks):
    # The invite flow sends the invitation email itself.
    user = UserFactory()
    organization = OrganizationFactory(name="Acme")
    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notify(
            event="invitation_received",
            user=user,
            organization=organization,
            context={"invite_id": "i-1", "organization_name": "Acme", "role": "member", "invited_by": "boss@acme.test", "code": "s3cr3t"},
        )
    assert mailoutbox == []
    assert notification.title == "You are invited to join Acme"
    assert notification.body.startswith("boss@acme.test invited you to join Acme as member.")
    assert "code" not in notification.data and "s3cr3t" not in f"{notification.title}{notification.body}{notification.data}"


def test_only_the_catalog_keys_of_the_context_are_kept():
    user = UserFactory()
    context = {
        "invoice_id": "in_1",
        "amount_due": 1999,
        "currency": "usd",
        "attempt_count": 2,
        "next_payment_attempt": None,
        "hosted_invoice_url": "https://invoice.stripe.test/i/secret",
        "api_token": "tok_secret",
    }
    notification = services.notify(event="payment_failed", user=user, organization=OrganizationFactory(name="Acme"), context=context)
    assert notification.data == {"invoice_id": "in_1", "amount_due": 1999, "currency": "usd", "attempt_count": 2, "next_payment_attempt": None}
    assert "(attempt 2)" in notification.body and "secret" not in notification.body


def test_missing_context_renders_without_failing():
    notification = services.notify(event="integration_failed", user=UserFactory(), organization=OrganizationFactory(name="Acme"), context=None)
    assert notification.title == "An integration of Acme failed"
    assert notification.body == "An integration of Acme failed. Reconnect it to resume."


def test_values_are_not_template_code():
    organization = OrganizationFactory(name="{{ secret }} {% now 'Y' %}")
    notification = services.notify(event="member_removed", user=UserFactory(), organization=organization, context={})
    assert notification.title == "You were removed from {{ secret }} {% now 'Y' %}"


def test_html_email_escapes_values(mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(event="member_removed", user=UserFactory(), organization=OrganizationFactory(name="<b>Evil</b>\nCorp"), context={})
    [message] = mailoutbox
    assert "<b>Evil</b>" not in message.alternatives[0][0] and "&lt;b&gt;Evil&lt;/b&gt;" in message.alternatives[0][0]
    assert "\n" not in message.subject and "<b>Evil</b> Corp" in message.subject


@pytest.mark.parametrize(
    "event",
    ["invitation_received", "role_changed", "member_removed", "integration_failed", "payment_failed", "subscription_changed"],
)
def test_every_catalog_event_renders(event):
    notification = services.notify(event=event, user=UserFactory(), organization=OrganizationFactory(name="Acme"), context={})
    assert notification.event == event and "Acme" in notification.title and notification.body


def test_subscription_changed_reads_well():
    notification = services.notify(
        event="subscription_changed",
        user=UserFactory(),
        organization=OrganizationFactory(name="Acme"),
        context={"plan": "pro", "interval": "month", "status": "active"},
    )
    assert notification.body == "The subscription of Acme changed: it is now on the pro plan (monthly), status active."


def test_no_user_or_inactive_user_gets_nothing(mailoutbox, django_capture_on_commit_callbacks):
    inactive = UserFactory(is_active=False)
    organization = OrganizationFactory()  # before the capture: creating an org queues a cache drop on commit
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.notify(event="invitation_received", user=None, organization=organization, context={}) is None
        assert services.notify(event="role_changed", user=inactive, organization=None, context={}) is None
    assert callbacks == [] and mailoutbox == [] and not Notification.objects.exists()


def test_a_user_id_is_accepted():
    user = UserFactory()
    assert services.notify(event="member_removed", user=user.id, organization=None, context={}).user == user


def test_unknown_event_is_logged_and_ignored(caplog):
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        assert services.notify(event="nope", user=UserFactory(), organization=None, context={}) is None
    assert "unknown notification event 'nope'" in caplog.text and not Notification.objects.exists()


def test_a_failing_notification_never_breaks_the_callers_transaction(monkeypatch, caplog):
    user = UserFactory()

    def broken(**kwargs):
        # A write that lands, then a database error: the savepoint must undo only this.
        Notification(**kwargs).save()
        raise DatabaseError("disk full")

    monkeypatch.setattr(Notification.objects, "create", broken)
    with transaction.atomic():
        with caplog.at_level(logging.ERROR, logger="notifications.services"):
            # when the notification fails inside the caller's transaction
            assert services.notify(event="role_changed", user=user, organization=None, context={}) is None
        # then the caller's transaction is still usable and commits its own work
        OrganizationFactory(name="Still works")
    assert "notification role_changed for user" in caplog.text
    assert OrganizationFactory._meta.model.objects.filter(name="Still works").exists()
    monkeypatch.undo()
    assert not Notification.objects.exists()


def test_a_broker_outage_is_logged_not_raised(monkeypatch, django_capture_on_commit_callbacks, caplog):
    def down(*args, **kwargs):
        raise OSError("broker unreachable")

    monkeypatch.setattr(tasks.send_notification_email, "delay", down)
    with caplog.at_level(logging.ERROR):
        with django_capture_on_commit_callbacks(execute=True):
            notification = services.notify(event="role_changed", user=UserFactory(), organization=None, context={"role": "admin"})
    assert Notification.objects.filter(id=notification.id).exists()
    assert "broker unreachable" in caplog.text


def test_the_notify_hook_is_provided_by_this_app():
    user = UserFactory()
    organization = OrganizationFactory()
    notification_services.notify(event="member_removed", user=user, organization=organization, context={})
    assert Notification.objects.filter(user=user, organization=organization, event="member_removed").count() == 1


def test_notify_org_admins_reaches_active_owner_and_admins_only(mailoutbox, django_capture_on_commit_callbacks):
    # given
    organization = OrganizationFactory(name="Acme")
    owner = MembershipFactory(organization=organization, role="owner")
    admin = MembershipFactory(organization=organization, role="admin")
    MembershipFactory(organization=organization, role="admin", status=Membership.Status.SUSPENDED)
    MembershipFactory(organization=organization, role="member")
    MembershipFactory(organization=organization, role="viewer")
    MembershipFactory(organization=OrganizationFactory(), role="admin")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        delivered = services.notify_org_admins(
            organization=organization, event="integration_failed", context={"provider": "google", "reason": "token revoked", "access_token": "x"}
        )
    # then
    assert {n.user_id for n in delivered} == {owner.user_id, admin.user_id}
    assert set(Notification.objects.values_list("user_id", flat=True)) == {owner.user_id, admin.user_id}
    assert delivered[0].title == "The google integration of Acme failed"
    assert delivered[0].body == "The google integration of Acme failed: token revoked Reconnect it to resume."
    assert delivered[0].data == {"provider": "google", "reason": "token revoked"}
    assert sorted(m.to[0] for m in mailoutbox) == sorted([owner.user.email, admin.user.email])


def test_effective_preferences_fill_in_the_catalog_defaults():
    user = UserFactory()
    prefer(user, email_enabled=False, role_changed={"email": False})
    prefs = selectors.preferences_get(user=user)
    assert prefs["email_enabled"] is False and prefs["in_app_enabled"] is True
    assert list(prefs["preferences"]) == catalog.event_names()
    assert prefs["preferences"]["role_changed"] == {"email": False, "in_app": True}
    assert prefs["preferences"]["invitation_received"] == {"email": False, "in_app": True}
    assert prefs["preferences"]["payment_failed"] == {"email": True, "in_app": True}


def test_preferences_update_merges_per_event_and_channel():
    user = UserFactory()
    services.preferences_update(user=user, data={"preferences": {"role_changed": {"email": False}}})
    services.preferences_update(user=user, data={"in_app_enabled": False, "preferences": {"role_changed": {"in_app": False}}})
    stored = NotificationPreference.objects.get(user=user)
    assert stored.email_enabled is True and stored.in_app_enabled is False
    assert stored.preferences == {"role_changed": {"email": False, "in_app": False}}


def test_preferences_update_refuses_unknown_events():
    from core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as error:
        services.preferences_update(user=UserFactory(), data={"preferences": {"lunch_ready": {"email": True}}})
    assert error.value.status_code == 400 and "lunch_ready" in error.value.message
