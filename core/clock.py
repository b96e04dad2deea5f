"""The one source of "now", so tests can travel in time without patching datetime."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """Return the current aware UTC time."""
    return timezone.now()
