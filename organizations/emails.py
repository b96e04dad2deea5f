"""Organization emails: rendered from templates (plain text + HTML) and sent through Django's mail API."""
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from organizations.models import Invite


def email_send(*, to: str, template: str, context: dict) -> None:
    """Render `organizations/email/<template>.{subject.txt,txt,html}` and send it."""
    context = {"frontend_url": settings.FRONTEND_URL, **context}
    # Names typed by users end up in the subject: fold any line break so the header stays one line.
    subject = " ".join(render_to_string(f"organizations/email/{template}.subject.txt", context).split())
    text = render_to_string(f"organizations/email/{template}.txt", context)
    html = render_to_string(f"organizations/email/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()


def invite_email_send(*, invite: Invite, code: str) -> None:
    """Send the link that opens an invitation."""
    link = f"{settings.FRONTEND_URL}/join/{code}"
    inviter = invite.invited_by
    email_send(
        to=invite.email,
        template="invite",
        context={
            "invite": invite,
            "organization": invite.organization,
            "inviter_name": (inviter.full_name or inviter.email) if inviter else "",
            "link": link,
        },
    )
