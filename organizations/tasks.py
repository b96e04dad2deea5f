"""Organization background jobs: invitation emails."""

from celery import shared_task

from accounts.tokens import hash_secret
from organizations import emails
from organizations.models import Invite

_MAIL_RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "retry_backoff_max": 600, "max_retries": 8}


@shared_task(**_MAIL_RETRY)
def send_invite_email(invite_id: str, code: str) -> None:
    """Mail the invitation link (the code travels only in the message)."""
    invite = Invite.objects.select_related("organization", "invited_by").filter(id=invite_id).first()
    # Cancelled, answered or re-issued since it was queued: this code no longer opens anything.
    if invite is None or invite.status != Invite.Status.PENDING or invite.code_hash != hash_secret(code):
        return
    emails.invite_email_send(invite=invite, code=code)
