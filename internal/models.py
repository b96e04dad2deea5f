"""What the internal API stores: the usage reports of services, unique per idempotency key."""

import uuid

from django.db import models

from core import clock


class UsageRecord(models.Model):
    """One metered use a service reported; its idempotency key makes a retried report count once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=255)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="+")
    feature = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            # Keys are the service's own: two services may pick the same one.
            models.UniqueConstraint(fields=["service", "idempotency_key"], name="internal_usage_idempotency_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.service}:{self.idempotency_key}"
