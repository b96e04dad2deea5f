"""Reads of documents; every one is scoped to an organization."""

import math

from django.db.models import QuerySet, Sum

from documents.models import Document

BYTES_PER_MB = 1024 * 1024


def document_list(*, organization) -> QuerySet[Document]:
    """The organization's documents, newest first."""
    return Document.objects.for_organization(organization).order_by("-created_at", "-id")


def document_get(*, organization, document_id) -> Document | None:
    """One document of the organization, or None (another org's id is simply not found)."""
    return Document.objects.for_organization(organization).filter(id=document_id).first()


def storage_used_bytes(*, organization) -> int:
    """Bytes the organization's documents take."""
    return Document.objects.for_organization(organization).aggregate(total=Sum("size"))["total"] or 0


def storage_used_mb(*, organization) -> int:
    """Whole megabytes the organization's documents take (a started megabyte counts)."""
    return math.ceil(storage_used_bytes(organization=organization) / BYTES_PER_MB)


def usage_counts(*, organization) -> dict:
    """The `core.hooks.usage_counts` contribution: storage used, in MB."""
    return {"storage_mb": storage_used_mb(organization=organization)}


def organization_stats(*, organization) -> dict:
    """The `core.hooks.organization_stats` contribution."""
    return {"storage_used_mb": storage_used_mb(organization=organization)}
