"""Reads of integrations; every one is scoped to an organization (the beat's scan excepted)."""

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from core import clock
from integrations.models import Integration, IntegrationLog

# How far ahead the beat refreshes, and how long an unused refresh token may idle.
REFRESH_AHEAD = timedelta(minutes=30)
REFRESH_IDLE = timedelta(hours=24)
LOGS_LIMIT_DEFAULT = 100
LOGS_LIMIT_MAX = 500


def integration_list(*, organization) -> QuerySet[Integration]:
    """The organization's integrations, by provider key (revoked ones included)."""
    return Integration.objects.for_organization(organization).order_by("key")


def integration_get(*, organization, key: str) -> Integration | None:
    """The organization's integration with that provider, or None (another org's is simply not found)."""
    return Integration.objects.for_organization(organization).filter(key=key).first()


def log_list(*, organization, integration: str | None = None, action: str | None = None, limit: int = LOGS_LIMIT_DEFAULT):
    """The organization's integration log, newest first, optionally for one provider and/or action."""
    logs = IntegrationLog.objects.for_organization(organization).select_related("integration")
    if integration:
        logs = logs.filter(integration__key=integration)
    if action:
        logs = logs.filter(action=action)
    return logs.order_by("-timestamp", "-id")[:limit]


def refresh_due_ids(*, now: datetime) -> QuerySet:
    """Ids of every integration the beat must refresh: expiring within 30 minutes, or idle for 24 hours."""
    due = Q(expires_at__lte=now + REFRESH_AHEAD) | Q(last_refreshed_at__lte=now - REFRESH_IDLE) | Q(last_refreshed_at__isnull=True)
    return Integration.objects.filter(status=Integration.Status.ACTIVE, refreshable=True).filter(due).order_by("expires_at").values_list("id", flat=True)


def integration_is_due(integration: Integration, *, now: datetime) -> bool:
    """Whether the beat should refresh it: expiring within 30 minutes, or idle for 24 hours."""
    if integration.status != Integration.Status.ACTIVE or not integration.refreshable:
        return False
    expiring = integration.expires_at is not None and integration.expires_at <= now + REFRESH_AHEAD
    idle = integration.last_refreshed_at is None or integration.last_refreshed_at <= now - REFRESH_IDLE
    return expiring or idle


def integration_status(integration: Integration, *, now: datetime | None = None) -> str:
    """The status a client sees: `expired` once an active integration is past its expiry."""
    if integration.status == Integration.Status.ACTIVE and integration.expires_at is not None:
        if integration.expires_at <= (now or clock.now()):
            return Integration.Status.EXPIRED
    return integration.status


def connected_count(*, organization) -> int:
    """How many integrations the organization holds credentials for (what the plan limits)."""
    return Integration.objects.for_organization(organization).connected().count()


def usage_counts(*, organization) -> dict:
    """The `core.hooks.usage_counts` contribution."""
    return {"integrations": connected_count(organization=organization)}


def organization_stats(*, organization) -> dict:
    """The `core.hooks.organization_stats` contribution."""
    return {"integrations": connected_count(organization=organization)}
