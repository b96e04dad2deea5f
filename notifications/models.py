"""In-app notifications of a user and the channels they want per event."""

import uuid

from django.conf import settings
from django.db import models

from core import clock


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)

    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """One message to one user, optionally about an organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column index: both composite indexes below start with the user.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    event = models.CharField(max_length=50)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Unread lists and counts (read_at IS NULL), newest first.
            models.Index(fields=["user", "read_at", "-created_at"], name="notif_user_read_time_idx"),
            # The full list, newest first.
            models.Index(fields=["user", "-created_at"], name="notif_user_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} for {self.user_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(models.Model):
    """A user's switches: email / in-app overall, and per event overrides `{event: {email, in_app}}`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference")
    email_enabled = models.BooleanField(default=True)
    in_app_enabled = models.BooleanField(default=True)
    # Only what the user chose: an event or channel left out follows the catalog default.
    preferences = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notification preferences of {self.user_id}"
