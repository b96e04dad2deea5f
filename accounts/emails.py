"""Account emails: rendered from templates (plain text + HTML) and sent through Django's mail API."""
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.models import User


def email_send(*, to: str, template: str, context: dict) -> None:
    """Render `accounts/email/<template>.{subject.txt,txt,html}` and send it."""
    context = {"frontend_url": settings.FRONTEND_URL, **context}
    subject = render_to_string(f"accounts/email/{template}.subject.txt", context).strip()
    text = render_to_string(f"accounts/email/{template}.txt", context)
    html = render_to_string(f"accounts/email/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()


def verification_email_send(*, user: User, secret: str) -> None:
    """Send the link that verifies the user's email."""
    link = f"{settings.FRONTEND_URL}/verify-email?token={secret}"
    email_send(to=user.email, template="verify_email", context={"user": user, "link": link})


def password_reset_email_send(*, user: User, secret: str) -> None:
    """Send the one-time password reset link."""
    link = f"{settings.FRONTEND_URL}/reset-password?token={secret}"
    email_send(
        to=user.email,
        template="password_reset",
        context={"user": user, "link": link, "minutes": settings.PASSWORD_RESET_TOKEN_MINUTES},
    )
