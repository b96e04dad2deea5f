"""Base models shared by every app."""
import uuid

from django.db import models


class TimestampedModel(models.Model):
    """UUID primary key with created/updated timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OutboxTask(models.Model):
    """A Celery task that could not reach the broker; `core.tasks.outbox_flush` sends it later."""

    task_name = models.CharField(max_length=200)
    # Encrypted (the arguments may hold a one-time secret such as an invite code).
    payload = models.TextField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_index=True)
    next_attempt_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["next_attempt_at", "id"]

    def __str__(self) -> str:
        return f"{self.task_name} (attempts: {self.attempts})"
