"""Audit events: an append-only record of every state change."""
import uuid

from django.db import models

from core import clock


class AuditEvent(models.Model):
    """One state change: who did what to which object, with field-level changes."""

    class ActorType(models.TextChoices):
        USER = "user"
        API_KEY = "api_key"
        SYSTEM = "system"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    action = models.CharField(max_length=80, db_index=True)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices, default=ActorType.SYSTEM)
    actor_id = models.UUIDField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    # Set when a staff member acted through impersonation: both are recorded.
    impersonator_id = models.UUIDField(null=True, blank=True)
    organization_id = models.UUIDField(null=True, blank=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization_id", "-created_at", "-id"], name="audit_org_time_idx"),
            models.Index(fields=["actor_id", "-created_at"], name="audit_actor_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_type}:{self.actor_id}"
