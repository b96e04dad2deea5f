"""Teams: named groups of an organization's members (reads and writes; every write audited).

Teams are policy subjects: joining one can grant permissions, leaving one can lift a deny. So
membership writes take a check from the API layer (permissions.drf) that refuses a change the
caller could not make with their own permissions.
"""

from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery

from audit.services import event_record
from core import clock
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from core.services import model_update
from organizations.models import Membership, Organization, Team, TeamMembership
from organizations.services import MemberCheck, authz_revision_bump

# Raises when the caller may not take these members off the team (lifting its denies, dropping its allows).
LeaveCheck = Callable[[Iterable[Membership]], None]

_DUPLICATE = "A team with this name already exists in the organization."


# --- reads ------------------------------------------------------------------------------------


def team_list(*, organization: Organization) -> QuerySet[Team]:
    """Teams of an org with their member counts, by name."""
    return Team.objects.filter(organization=organization).annotate(member_count=Count("memberships")).order_by("name", "id")


def team_get(*, organization: Organization, team_id) -> Team:
    """One team of the org (404 otherwise, also for another org's)."""
    team = team_list(organization=organization).filter(id=team_id).first()
    if team is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="Team not found.", status_code=404)
    team.organization = organization
    return team


def team_list_for_user(*, organization: Organization, user) -> QuerySet[Team]:
    """The teams of the org that `user` belongs to."""
    return team_list(organization=organization).filter(id__in=TeamMembership.objects.filter(user=user).values("team_id"))


def team_member_list(*, team: Team) -> QuerySet[TeamMembership]:
    """A team's members with their user and their role in the org."""
    role = Membership.objects.filter(organization_id=team.organization_id, user_id=OuterRef("user_id")).values("role")[:1]
    return TeamMembership.objects.filter(team=team).select_related("user").annotate(role=Subquery(role)).order_by("added_at", "id")


def _team_member_get(*, team: Team, user_id) -> TeamMembership:
    member = team_member_list(team=team).filter(user_id=user_id).first()
    if member is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="This user is not a member of the team.", status_code=404)
    return member


# --- writes -----------------------------------------------------------------------------------


def _name_clean(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise validation_error("name", "This field may not be blank.")
    return name


def _name_taken(*, organization: Organization, name: str, exclude_id=None) -> bool:
    return Team.objects.filter(organization=organization, name__iexact=name).exclude(id=exclude_id).exists()


def _save(func):
    """Run a save in a savepoint; a unique-name race becomes 409 instead of a 500."""
    try:
        with transaction.atomic():
            return func()
    except IntegrityError:
        raise conflict(_DUPLICATE, name=[_DUPLICATE]) from None


@transaction.atomic
def team_create(*, organization: Organization, name: str, description: str = "", actor: Actor) -> Team:
    """Create a team (names are unique per org, case-insensitively: 409)."""
    name = _name_clean(name)
    if _name_taken(organization=organization, name=name):
        raise conflict(_DUPLICATE, name=[_DUPLICATE])
    team = _save(lambda: Team.objects.create(organization=organization, name=name, description=description or "", created_at=clock.now()))
    team.member_count = 0
    event_record(
        action="team.created",
        actor=actor,
        organization_id=organization.id,
        target=team,
        changes={"name": [None, name], "description": [None, team.description]},
    )
    return team


@transaction.atomic
def team_update(*, team: Team, data: dict, actor: Actor) -> Team:
    """Rename a team or change its description."""
    if "name" in data:
        data = {**data, "name": _name_clean(data["name"])}
        if data["name"].lower() != team.name.lower() and _name_taken(organization=team.organization, name=data["name"], exclude_id=team.id):
            raise conflict(_DUPLICATE, name=[_DUPLICATE])
    team, changes = _save(lambda: model_update(instance=team, fields=["name", "description"], data=data))
    if changes:
        event_record(action="team.updated", actor=actor, organization_id=team.organization_id, target=team, changes=changes)
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: Actor, ensure_leavable: LeaveCheck) -> None:
    """Delete a team; its members stay in the org (it takes them all off the team: checked like that)."""
    members = list(Membership.objects.filter(organization_id=team.organization_id, user_id__in=team.memberships.values("user_id")))
    if members:
        ensure_leavable(members)
    event_record(
        action="team.deleted",
        actor=actor,
        organization_id=team.organization_id,
        target=team,
        changes={"name": [team.name, None]},
    )
    team.delete()
    if members:
        # Policies may name teams as subjects: cached decisions must see the change.
        authz_revision_bump(organization=team.organization)


@transaction.atomic
def team_member_add(*, team: Team, user_id, actor: Actor, ensure_joinable: MemberCheck) -> TeamMembership:
    """Put an active member of the org on the team, if the caller holds what the team's policies grant (400 for a non-member, 409 when on it)."""
    membership = (
        Membership.objects.select_related("user").filter(organization_id=team.organization_id, user_id=user_id, status=Membership.Status.ACTIVE).first()
    )
    if membership is None:
        raise validation_error("user_id", "This user is not an active member of the organization.")
    if TeamMembership.objects.filter(team=team, user_id=user_id).exists():
        raise conflict("This user is already a member of the team.", user_id=["Already a member of the team."])
    # Allow policies naming the team grant their permissions to whoever joins it (no escalation).
    ensure_joinable(membership)
    try:
        with transaction.atomic():
            member = TeamMembership.objects.create(team=team, user=membership.user, added_at=clock.now())
    except IntegrityError:
        raise conflict("This user is already a member of the team.", user_id=["Already a member of the team."]) from None
    member.role = membership.role
    authz_revision_bump(organization=team.organization)
    event_record(
        action="team.member_added",
        actor=actor,
        organization_id=team.organization_id,
        target=team,
        changes={"user_id": [None, str(user_id)]},
    )
    return member


@transaction.atomic
def team_member_remove(*, team: Team, user_id, actor: Actor, ensure_leavable: LeaveCheck) -> None:
    """Take a user off the team (404 when not on it), if the caller could lift its denies and is not worse than them."""
    member = _team_member_get(team=team, user_id=user_id)
    # Leaving lifts the deny policies naming the team: checked like deleting them.
    ensure_leavable(list(Membership.objects.filter(organization_id=team.organization_id, user_id=user_id)))
    member.delete()
    authz_revision_bump(organization=team.organization)
    event_record(
        action="team.member_removed",
        actor=actor,
        organization_id=team.organization_id,
        target=team,
        changes={"user_id": [str(user_id), None]},
    )
