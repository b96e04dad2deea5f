"""Account emails: the templates under `accounts/email/`, sent by `core.emails.email_send`."""

from django.conf import settings

from accounts.models import User
from core.emails import email_send


def verification_email_send(*, user: User, secret: str) -> None:
    """Send the link that verifies the user's email."""
    link = f"{settings.FRONTEND_URL}/verify-email?token={secret}"
    email_send(to=user.email, template="accounts/email/verify_email", context={"user": user, "link": link})


def password_reset_email_send(*, user: User, secret: str) -> None:
    """Send the one-time password reset link."""
    link = f"{settings.FRONTEND_URL}/reset-password?token={secret}"
    email_send(
        to=user.email,
        template="accounts/email/password_reset",
        context={"user": user, "link": link, "minutes": settings.PASSWORD_RESET_TOKEN_MINUTES},
    )
