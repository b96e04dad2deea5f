"""Notification background jobs: the emails."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import BadHeaderError

from notifications import emails
from notifications.models import Notification

logger = logging.getLogger(__name__)

_MAIL_RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "retry_backoff_max": 600, "max_retries": 8}


def _send(*, user, title: str, body: str, what: str) -> None:
    try:
        emails.notification_email_send(user=user, title=title, body=body)
    except BadHeaderError:
        logger.error("notification email refused (%s) for user %s", what, user.pk)


@shared_task(**_MAIL_RETRY)
def send_notification_email(notification_id: str) -> None:
    """Mail an in-app notification to its user (skipped once it is deleted or the user deactivated)."""
    notification = Notification.objects.select_related("user").filter(id=notification_id).first()
    if notification is None or not notification.user.is_active:
        return
    _send(user=notification.user, title=notification.title, body=notification.body, what=notification.event)


@shared_task(**_MAIL_RETRY)
def send_event_email(user_id: str, title: str, body: str) -> None:
    """Mail an event to a user who turned its in-app notification off (so there is no row to load)."""
    user = get_user_model().objects.filter(id=user_id, is_active=True).first()
    if user is None:
        return
    _send(user=user, title=title, body=body, what="email only")
