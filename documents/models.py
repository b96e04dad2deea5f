"""Documents: files an organization stores, with their metadata."""

import uuid

from django.conf import settings
from django.db import models

from core.models import OrgScopedQuerySet
from organizations.models import Organization


def document_upload_to(instance: "Document", filename: str) -> str:
    """Storage path from the org id and a fresh uuid: the client's file name never reaches storage."""
    return f"documents/{instance.organization_id}/{uuid.uuid4().hex}"


class Document(models.Model):
    """One uploaded file of an organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    file = models.FileField(upload_to=document_upload_to, max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="document_org_created")]

    def __str__(self) -> str:
        return self.title
