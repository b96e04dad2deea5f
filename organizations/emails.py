"""Organization emails: the templates under `organizations/email/`, sent by `core.emails.email_send`."""

from django.conf import settings

from core.emails import email_send
from organizations.models import Invite


def invite_email_send(*, invite: Invite, code: str) -> None:
    """Send the link that opens an invitation."""
    link = f"{settings.FRONTEND_URL}/join/{code}"
    inviter = invite.invited_by
    email_send(
        to=invite.email,
        template="organizations/email/invite",
        context={
            "invite": invite,
            "organization": invite.organization,
            "inviter_name": (inviter.full_name or inviter.email) if inviter else "",
            "link": link,
        },
    )
