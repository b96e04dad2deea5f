"""E-mail sending: one template set (subject, plain text, HTML) through Django's mail API."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def email_send(*, to: str, template: str, context: dict) -> None:
    """Render `<template>.subject.txt`, `<template>.txt` and `<template>.html` and send them to `to`."""
    context = {"frontend_url": settings.FRONTEND_URL, **context}
    # Names typed by users end up in subjects: fold every line break so the header stays one line.
    subject = " ".join(render_to_string(f"{template}.subject.txt", context).split())
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()
