"""The email tasks: load by id, skip what is gone, retry on network errors."""

import pytest

from accounts.tests.factories import UserFactory
from notifications import tasks
from notifications.tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_sends_the_stored_notification(mailoutbox):
    notification = NotificationFactory(title="Hello there", body="Line one.\nLine two.")
    tasks.send_notification_email(str(notification.id))
    [message] = mailoutbox
    assert message.subject == "Hello there" and message.to == [notification.user.email]
    assert "Line one.\nLine two." in message.body and "Line one.<br>Line two." in message.alternatives[0][0]


def test_skips_a_deleted_notification_or_an_inactive_user(mailoutbox):
    notification = NotificationFactory()
    notification_id = str(notification.id)
    notification.delete()
    tasks.send_notification_email(notification_id)
    tasks.send_notification_email(str(NotificationFactory(user=UserFactory(is_active=False)).id))
    tasks.send_event_email(str(UserFactory(is_active=False).id), "t", "b")
    assert mailoutbox == []


def test_event_email_without_a_row(mailoutbox):
    user = UserFactory()
    tasks.send_event_email(str(user.id), "Payment failed for Acme", "A payment failed.")
    [message] = mailoutbox
    assert message.to == [user.email] and message.subject == "Payment failed for Acme"


def test_mail_errors_are_retried_with_backoff():
    for task in (tasks.send_notification_email, tasks.send_event_email):
        assert OSError in task.autoretry_for and task.retry_backoff and task.max_retries == 8
