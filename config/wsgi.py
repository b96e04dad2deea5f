"""WSGI entry point: Django's handler with writes-only request transactions (core.handlers)."""

import os

import django
from django.core.handlers.wsgi import WSGIHandler

from core.handlers import AtomicWritesOnly

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")


class Handler(AtomicWritesOnly, WSGIHandler):
    """Django's WSGI handler; reads run outside the request transaction."""


django.setup(set_prefix=False)
application = Handler()
