"""Organization reads."""

from django.db.models import Count, Q, QuerySet

from core import clock, hooks
from organizations.context import membership_of
from organizations.models import Invite, Membership, Organization, Team


def membership_active(*, user, organization_id) -> Membership | None:
    """The user's active membership of an org (with the org), or None; read through the org-context cache."""
    membership = membership_of(user, organization_id)
    return membership if membership is not None and membership.status == Membership.Status.ACTIVE else None


def organization_list_for_user(*, user) -> QuerySet[Membership]:
    """My active memberships, each with its org."""
    return Membership.objects.select_related("organization").filter(user=user, status=Membership.Status.ACTIVE).order_by("organization__name")


MEMBER_LIST_FIELDS = (
    "organization_id", "role", "status", "status_reason", "display_name", "title", "joined_at",
    "user", "user__email", "user__full_name", "user__first_name", "user__last_name", "user__avatar_url",
)  # fmt: skip


def member_list(*, organization: Organization, search: str | None = None, role: str | None = None, status: str | None = None) -> QuerySet[Membership]:
    """Members of an org, filtered by text search on name/email, role and status.

    Only the columns the member list shows: each timestamp column read costs a timezone
    conversion per row, and a user row has four of them.
    """
    qs = Membership.objects.select_related("user").only(*MEMBER_LIST_FIELDS).filter(organization=organization)
    if search:
        qs = qs.filter(Q(user__email__icontains=search) | Q(user__full_name__icontains=search) | Q(display_name__icontains=search))
    if role:
        qs = qs.filter(role=role)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("joined_at", "id")


def member_get(*, organization: Organization, user_id) -> Membership:
    """One member of the org by user id (404 otherwise)."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(Membership.objects.select_related("user"), organization=organization, user_id=user_id)


def organization_stats(*, organization: Organization) -> dict:
    """Counts shown on an org's dashboard."""
    members = Membership.objects.filter(organization=organization).aggregate(total=Count("id"), active=Count("id", filter=Q(status=Membership.Status.ACTIVE)))
    extra: dict = {}
    for contribution in hooks.organization_stats(organization=organization):
        extra.update(contribution)
    return {
        "members": members["total"],
        "active_members": members["active"],
        "teams": Team.objects.filter(organization=organization).count(),
        "pending_invites": Invite.objects.filter(organization=organization, status=Invite.Status.PENDING, expires_at__gt=clock.now()).count(),
        "api_keys": extra.get("api_keys", 0),
        "integrations": extra.get("integrations", 0),
        "storage_used_mb": extra.get("storage_used_mb", 0),
    }
