"""Audit events: an append-only, hash-chained record of every state change."""

import uuid

from django.db import models

from core import clock
from core.models import OrgScopedQuerySet


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an audit event."""


class AuditEventQuerySet(OrgScopedQuerySet):
    """Reads, and no writes but inserts: update() and delete() are refused."""

    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only: only the retention job removes them.")

    delete.queryset_only = True

    def _prune(self) -> int:
        """Delete these rows for the retention job (audit.services.events_prune is the only caller)."""
        # _raw_delete: one DELETE statement, no collector (nothing references audit events).
        return self._raw_delete(using=self.db)

    def chain_head(self, organization_id) -> tuple[int, str] | None:
        """(sequence, hash) of the newest event of an org's chain (organization_id None: the org-less chain)."""
        return self.filter(organization_id=organization_id).order_by("-sequence").values_list("sequence", "hash").first()


class AuditEvent(models.Model):
    """One state change: who did what to which object, with field-level changes."""

    class ActorType(models.TextChoices):
        USER = "user"
        API_KEY = "api_key"
        SERVICE = "service"
        # An identity provider provisioning through the org's SCIM token (actor_id: the token's id).
        SCIM = "scim"
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
    # Tamper evidence: position in the org's chain, the previous event's hash and this one's.
    sequence = models.PositiveBigIntegerField(editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Lists, keyset pages, exports and pruning of one org: newest first.
            models.Index(fields=["organization_id", "-created_at", "-id"], name="audit_org_time_idx"),
            models.Index(fields=["actor_id", "-created_at"], name="audit_actor_time_idx"),
        ]
        constraints = [
            # One event per position: a forked chain fails here even if the writer lock did not hold.
            # Also the index behind the chain-head lookup and verification (org, sequence order).
            models.UniqueConstraint(fields=["organization_id", "sequence"], name="audit_org_sequence_uniq"),
            # NULLs are distinct in the constraint above, so the org-less chain needs its own.
            models.UniqueConstraint(fields=["sequence"], condition=models.Q(organization_id__isnull=True), name="audit_orgless_sequence_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_type}:{self.actor_id}"

    def save(self, *args, **kwargs):
        # Only inserts: an existing event is never saved again (the database refuses it too on PostgreSQL).
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields") is not None:
            raise AppendOnlyError("Audit events are append-only: they cannot be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: only the retention job removes them.")
