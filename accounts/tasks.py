"""Account background jobs: emails and pruning of spent credentials."""

import logging
from datetime import timedelta

from celery import shared_task
from django.core.mail import BadHeaderError

from accounts import emails
from accounts.models import OneTimeToken, User, UserSession
from core import clock

logger = logging.getLogger(__name__)

_MAIL_RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "retry_backoff_max": 600, "max_retries": 8}


@shared_task(**_MAIL_RETRY)
def send_verification_email(user_id: str, secret: str) -> None:
    """Mail the email-verification link (the secret travels only in the message)."""
    user = User.objects.filter(id=user_id).first()
    if user is None:
        return
    emails.verification_email_send(user=user, secret=secret)


@shared_task(**_MAIL_RETRY)
def send_password_reset_email(user_id: str, secret: str) -> None:
    """Mail the password-reset link."""
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        return
    try:
        emails.password_reset_email_send(user=user, secret=secret)
    except BadHeaderError:
        logger.error("password reset email refused for user %s", user_id)


@shared_task
def prune_expired_credentials() -> dict:
    """Delete one-time tokens and sessions that can no longer be used (kept a week for forensics)."""
    cutoff = clock.now() - timedelta(days=7)
    tokens, _ = OneTimeToken.objects.filter(expires_at__lt=cutoff).delete()
    sessions, _ = UserSession.objects.filter(expires_at__lt=cutoff).delete()
    return {"tokens": tokens, "sessions": sessions}
