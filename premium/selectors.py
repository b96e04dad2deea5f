"""Reads of the premium routes: the org's figures over a period, its white label, what its plan offers.

Premium sits above every domain app (pyproject's import-linter layers), so it reads their models
directly: each figure is one aggregate query whatever the amount of data.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from ai.models import Message
from audit.models import AuditEvent
from core import clock, hooks
from documents.selectors import storage_used_mb
from integrations.selectors import connected_count
from organizations.models import Invite, Membership, Organization
from organizations.services import WHITE_LABEL_KEYS
from permissions.models import ApiKey

DEFAULT_DAYS = 30
MAX_DAYS = 365


@dataclass(frozen=True)
class Period:
    """Whole UTC days up to now: `days` calendar days, today included."""

    start: datetime
    end: datetime

    @classmethod
    def last(cls, days: int) -> "Period":
        end = clock.now()
        start = (end - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(start=start, end=end)

    def dates(self) -> list[date]:
        first, last = self.start.date(), self.end.date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _audit_by_day(*, organization: Organization, period: Period) -> list[dict]:
    """Audit events per UTC day of the period, days without any included (count 0)."""
    rows = (
        AuditEvent.objects.for_organization(organization)
        .filter(created_at__gte=period.start, created_at__lte=period.end)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("id"))
        .order_by("day")  # also drops the model's ordering, which would split the groups
    )
    counts = {row["day"]: row["count"] for row in rows}
    return [{"date": day, "count": counts.get(day, 0)} for day in period.dates()]


def organization_analytics(*, organization: Organization, days: int = DEFAULT_DAYS) -> dict:
    """The org's figures for the last `days` days (today included), in a constant number of queries (seven)."""
    period = Period.last(days)
    joined = Q(joined_at__gte=period.start, joined_at__lte=period.end)
    members = Membership.objects.for_organization(organization).aggregate(
        total=Count("id"), active=Count("id", filter=Q(status=Membership.Status.ACTIVE)), joined=Count("id", filter=joined)
    )
    invites = Invite.objects.for_organization(organization).aggregate(
        sent=Count("id", filter=Q(created_at__gte=period.start, created_at__lte=period.end)),
        accepted=Count("id", filter=Q(status=Invite.Status.ACCEPTED, responded_at__gte=period.start, responded_at__lte=period.end)),
    )
    api_keys = ApiKey.objects.for_organization(organization).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=period.end), revoked_at__isnull=True).count()
    by_day = _audit_by_day(organization=organization, period=period)
    ai_requests = Message.objects.filter(
        conversation__organization_id=organization.pk, role=Message.Role.USER, created_at__gte=period.start, created_at__lte=period.end
    ).count()
    return {
        "period": {"start": period.start, "end": period.end},
        "members": members,
        "invites": invites,
        "api_keys": {"active": api_keys},
        "audit": {"events": sum(row["count"] for row in by_day), "by_day": by_day},
        "ai": {"requests": ai_requests},
        "storage_mb": storage_used_mb(organization=organization),
        "integrations": {"connected": connected_count(organization=organization)},
    }


def white_label_get(*, organization: Organization) -> dict:
    """The org's white-label values, null where unset."""
    return {key: organization.settings.get(key) for key in WHITE_LABEL_KEYS}


def free_feature(*, organization: Organization) -> dict:
    """What every member may see: the org's plan and which premium features it includes."""
    claims = hooks.plan_claims(organization=organization)
    return {
        "feature": "free-feature",
        "message": "This feature is available on every plan.",
        "plan": claims.get("plan"),
        "features": claims.get("features") or {},
    }
