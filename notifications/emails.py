"""Notification emails: one generic layout (title, body, link to the front end), text and HTML."""

from django.conf import settings

from core.emails import email_send

TEMPLATE = "notifications/email/notification"


def notification_email_send(*, user, title: str, body: str) -> None:
    """Send the notification to the user by e-mail."""
    context = {"user": user, "title": title, "body": body, "link": settings.FRONTEND_URL}
    email_send(to=user.email, template=TEMPLATE, context=context)
