"""Base models and QuerySets shared by every app."""

from django.db import models


class OrgScopedQuerySet(models.QuerySet):
    """The rows of a tenant model; subclass it to add the model's own filters."""

    def for_organization(self, organization):
        """Return the rows of `organization` (an Organization or its id)."""
        # Filter on the column, not the relation: audit events hold a bare organization_id.
        return self.filter(organization_id=getattr(organization, "pk", organization))


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
