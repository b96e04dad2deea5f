"""SCIM 2.0 provisioning: an organization's bearer tokens and the IdP's `externalId`s of its members and teams.

A SCIM User is a membership of the org (its `id` is the membership's id), a SCIM Group is a team
(its `id` is the team's id); the rows below only add what the IdP keeps about them.
"""

import uuid

from django.conf import settings
from django.db import models

from core import clock


class ScimTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ScimToken(models.Model):
    """A bearer token an identity provider provisions one organization with; only a keyed hash is stored.

    The token acts with the permissions its creator holds in the org at the time of each call
    (scim.authz), never more.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="scim_tokens")
    name = models.CharField(max_length=100, blank=True)
    # Public: the start of the secret (`scim_<prefix>_...`); finds the row without a table scan.
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=clock.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ScimTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["organization", "revoked_at"])]

    def __str__(self) -> str:
        return f"SCIM token {self.name or self.prefix} of {self.organization_id}"

    @property
    def public_prefix(self) -> str:
        return f"scim_{self.prefix}"

    @property
    def status(self) -> str:
        return "revoked" if self.revoked_at is not None else "active"


class ScimUser(models.Model):
    """What the IdP keeps about a member it provisions: its `externalId`, and whether SCIM created the account."""

    membership = models.OneToOneField("organizations.Membership", on_delete=models.CASCADE, primary_key=True, related_name="scim")
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255, blank=True)
    # True when this org's SCIM created the user account (its profile is then the IdP's to keep).
    created_user = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], condition=~models.Q(external_id=""), name="scim_user_external_id_unique"),
        ]


class ScimGroup(models.Model):
    """What the IdP keeps about a team it provisions: its `externalId`."""

    team = models.OneToOneField("organizations.Team", on_delete=models.CASCADE, primary_key=True, related_name="scim")
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], condition=~models.Q(external_id=""), name="scim_group_external_id_unique"),
        ]
