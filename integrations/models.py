"""Integrations: an org's connections to third-party providers, their encrypted secrets and their log."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import OrgScopedQuerySet
from organizations.models import Organization


class OrgDataKey(models.Model):
    """An organization's data key, stored only wrapped (encrypted) by a master key from settings."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, primary_key=True, related_name="integrations_data_key")
    wrapped_key = models.TextField()
    # Fingerprint of the master key that wrapped it: rotation finds what still needs re-wrapping.
    master_key_id = models.CharField(max_length=16, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key of {self.organization_id} (master {self.master_key_id})"


class IntegrationQuerySet(OrgScopedQuerySet):
    def connected(self):
        """Integrations that hold credentials (everything but revoked ones)."""
        return self.exclude(status=Integration.Status.REVOKED)


class Integration(models.Model):
    """One provider connected to one organization (at most one per provider and org)."""

    class Type(models.TextChoices):
        OAUTH = "oauth", "OAuth"
        API_KEY = "api_key", "API key"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        ERROR = "error", "Error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="integrations")
    key = models.CharField(max_length=50)
    type = models.CharField(max_length=10, choices=Type.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Fernet token of the credentials JSON under the org's data key; empty once revoked.
    secret = models.TextField(blank=True, default="")
    # Whether the secret holds a refresh token (known without decrypting, for the beat's query).
    refreshable = models.BooleanField(default=False)
    scopes = models.JSONField(default=list, blank=True)
    # The provider's name for who connected (an email, a login, a workspace); "" when unknown.
    account = models.CharField(max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    connected_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IntegrationQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="integration_one_per_provider")]
        indexes = [
            # The beat's scan: refreshable, active integrations by expiry and by last refresh.
            models.Index(fields=["expires_at"], name="integration_due_expiry", condition=Q(status="active", refreshable=True)),
            models.Index(fields=["last_refreshed_at"], name="integration_due_idle", condition=Q(status="active", refreshable=True)),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.organization_id})"


class IntegrationLog(models.Model):
    """What happened to an org's integrations: connects, refreshes, failures, revocations, expiries."""

    class Action(models.TextChoices):
        CONNECTED = "CONNECTED"
        REFRESH_SUCCESS = "REFRESH_SUCCESS"
        REFRESH_FAILED = "REFRESH_FAILED"
        REVOKED = "REVOKED"
        EXPIRED = "EXPIRED"

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="integration_logs")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="logs")
    action = models.CharField(max_length=20, choices=Action.choices)
    message = models.CharField(max_length=500, blank=True, default="")
    timestamp = models.DateTimeField(db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["organization", "-timestamp"], name="integration_log_org_time")]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.action}"
