"""Notification emails: one generic layout (title, body, link to the front end), text and HTML."""
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

TEMPLATE = "notifications/email/notification"


def notification_email_send(*, user, title: str, body: str) -> None:
    """Render `notifications/email/notification.{subject.txt,txt,html}` and send it to the user."""
    context = {"user": user, "title": title, "body": body, "link": settings.FRONTEND_URL}
    # A header holds one line: collapse any line break a context value brought into the title.
    subject = " ".join(render_to_string(f"{TEMPLATE}.subject.txt", context).split())
    text = render_to_string(f"{TEMPLATE}.txt", context)
    html = render_to_string(f"{TEMPLATE}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])
    message.attach_alternative(html, "text/html")
    message.send()
