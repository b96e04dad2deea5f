"""E-mail sending: one template set (subject, plain text, HTML) through Django's mail API."""

from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def sender_address(from_name: str = "") -> str:
    """DEFAULT_FROM_EMAIL, or `"<from_name> via <its display name>" <its address>` when sending for someone."""
    platform, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    # Only the display name changes: the address stays ours (SPF/DKIM), so no one can send as anyone.
    from_name = " ".join(from_name.split())
    if not from_name or not address:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr((f"{from_name} via {platform}" if platform else from_name, address))


def email_send(*, to: str, template: str, context: dict, from_name: str = "") -> None:
    """Render `<template>.subject.txt`, `<template>.txt` and `<template>.html` and send them to `to` (From named `from_name` when given)."""
    context = {"frontend_url": settings.FRONTEND_URL, **context}
    # Names typed by users end up in subjects: fold every line break so the header stays one line.
    subject = " ".join(render_to_string(f"{template}.subject.txt", context).split())
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=sender_address(from_name), to=[to])
    message.attach_alternative(html, "text/html")
    message.send()
