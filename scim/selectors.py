"""SCIM reads: an org's members as Users and its teams as Groups, each list in a constant number of queries."""

import uuid

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from organizations.models import Membership, Organization, Team, TeamMembership
from scim.errors import ScimError


def _parse_id(resource_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(resource_id))
    except (TypeError, ValueError):
        return None


def user_queryset(*, organization: Organization, with_groups: bool = True) -> QuerySet[Membership]:
    """The org's memberships with their user, SCIM row and (optionally) teams: 1 query + 1 for the teams."""
    queryset = Membership.objects.filter(organization=organization).select_related("user", "scim").order_by("joined_at", "id")
    if with_groups:
        teams = TeamMembership.objects.filter(team__organization=organization).select_related("team").order_by("team__name", "team_id")
        queryset = queryset.prefetch_related(Prefetch("user__team_memberships", queryset=teams, to_attr="org_team_memberships"))
    return queryset


def user_get(*, organization: Organization, resource_id) -> Membership:
    """One member of the org by SCIM id (the membership id); 404 for anything else, another org's included."""
    membership_id = _parse_id(resource_id)
    membership = user_queryset(organization=organization).filter(id=membership_id).first() if membership_id else None
    if membership is None:
        raise ScimError(404, f"User {resource_id} not found.")
    return membership


def group_queryset(*, organization: Organization, with_members: bool = True) -> QuerySet[Team]:
    """The org's teams with their SCIM row and (optionally) members as membership ids: 1 query + 1 for the members."""
    queryset = Team.objects.filter(organization=organization).select_related("scim").order_by("name", "id")
    if with_members:
        membership_id = Membership.objects.filter(organization_id=OuterRef("team__organization_id"), user_id=OuterRef("user_id")).values("id")[:1]
        members = TeamMembership.objects.select_related("user").annotate(membership_id=Subquery(membership_id)).order_by("added_at", "id")
        queryset = queryset.prefetch_related(Prefetch("memberships", queryset=members, to_attr="scim_members"))
    return queryset


def group_get(*, organization: Organization, resource_id, with_members: bool = True) -> Team:
    """One team of the org by SCIM id (the team id); 404 otherwise."""
    team_id = _parse_id(resource_id)
    team = group_queryset(organization=organization, with_members=with_members).filter(id=team_id).first() if team_id else None
    if team is None:
        raise ScimError(404, f"Group {resource_id} not found.")
    team.organization = organization
    return team


def members_by_id(*, organization: Organization, ids) -> dict[str, Membership]:
    """The org's memberships among `ids` (SCIM User ids), by id string; ids that are not its members are left out."""
    parsed = [value for value in (_parse_id(item) for item in ids) if value is not None]
    if not parsed:
        return {}
    rows = Membership.objects.filter(organization=organization, id__in=parsed).select_related("user")
    return {str(row.id): row for row in rows}


def external_id_taken(*, organization: Organization, external_id: str, model, exclude=None) -> bool:
    """Whether another user (or group) of the org already carries this externalId."""
    if not external_id:
        return False
    rows = model.objects.filter(organization=organization, external_id=external_id)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return rows.exists()
