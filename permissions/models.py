"""Roles, extra role assignments, conditional policies and organization API keys."""

import uuid

from django.conf import settings
from django.db import models

from core import clock
from core.models import OrgScopedQuerySet
from organizations.models import Organization


class Role(models.Model):
    """A role of an organization. Built-in roles' permissions come from code, custom roles' from `permissions`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="roles")
    slug = models.SlugField(max_length=50)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    permissions = models.JSONField(default=list, blank=True)
    is_builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_builtin", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="permissions_role_slug_unique")]

    def __str__(self) -> str:
        return f"{self.slug} ({self.organization_id})"


class RoleAssignment(models.Model):
    """An extra role for a member, on top of their base role."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="role_assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "user", "role"], name="permissions_assignment_unique")]


class Policy(models.Model):
    """A conditional allow or deny on top of roles; deny wins.

    `conditions` are requirements: an allow grants only while all hold; a deny refuses
    whenever one does not hold (a deny without conditions always refuses).
    """

    class Effect(models.TextChoices):
        ALLOW = "allow"
        DENY = "deny"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=100)
    effect = models.CharField(max_length=5, choices=Effect.choices)
    permissions = models.JSONField(default=list)
    subjects = models.JSONField(default=dict, blank=True)
    conditions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.effect} {self.name}"


class ApiKey(models.Model):
    """An organization API key. The secret is shown once; only a keyed hash is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # Public, unique part of the secret used to find the row; never enough to authenticate.
    prefix = models.CharField(max_length=24, unique=True)
    secret_hash = models.CharField(max_length=64)
    # During rotation the previous secret keeps working until previous_valid_until.
    previous_prefix = models.CharField(max_length=24, null=True, blank=True, unique=True)
    previous_secret_hash = models.CharField(max_length=64, blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list)
    ip_allowlist = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    # Every secret starts with this; the API shows `public_prefix`, the literal start of the secret.
    SECRET_START = "sk_live_"

    def __str__(self) -> str:
        return f"{self.name} ({self.public_prefix})"

    @property
    def public_prefix(self) -> str:
        """`sk_live_<prefix>`: the start of the secret, so a holder can match their key to its row."""
        return f"{self.SECRET_START}{self.prefix}"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= clock.now():
            return "expired"
        return "active"


class PlatformPermission(models.Model):
    """A permission code registered by staff for a product service; joins every org's catalog beside the declared ones."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code
