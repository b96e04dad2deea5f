"""Implementations of the hooks through which accounts asks about organizations."""

from core import hooks
from core.actor import Actor
from core.roles import Role
from organizations import domains, selectors, services
from organizations.models import Membership, Organization


def organization_create(*, user, name: str, website: str, actor: Actor) -> Organization:
    """Create the org `user` asked for at registration: they act, and become its owner."""
    return services.organization_create(user=user, name=name, website=website, actor=actor.as_user(user))


def default_organization(*, user):
    """The org a new session starts in: the user's first active membership."""
    return Membership.objects.filter(user=user, status=Membership.Status.ACTIVE).order_by("joined_at").values_list("organization_id", flat=True).first()


def organization_summary(*, user, organization_id) -> dict | None:
    """{id, name, slug, role} when the user is an active member, else None."""
    membership = selectors.membership_active(user=user, organization_id=organization_id)
    if membership is None:
        return None
    org = membership.organization
    return {"id": str(org.id), "name": org.name, "slug": org.slug, "role": membership.role}


def token_claims(*, user, organization_id) -> dict:
    """org_id/role from the active membership; plan/features from billing."""
    membership = selectors.membership_active(user=user, organization_id=organization_id) if organization_id else None
    if membership is None:
        return {"org_id": None, "role": None, "plan": None, "features": {}}
    plan = hooks.plan_claims(organization=membership.organization)
    return {"org_id": str(membership.organization_id), "role": membership.role, **plan}


def user_deletion_blocker(*, user) -> str | None:
    """An owner of an org that still has other members cannot delete their account."""
    owned = Membership.objects.filter(user=user, role=Role.OWNER).values_list("organization_id", flat=True)
    if Membership.objects.filter(organization_id__in=owned).exclude(user=user).exists():
        return "You own an organization with other members: transfer ownership or remove them first."
    return None


def user_deleted_cleanup(*, user) -> None:
    """Delete the orgs a departing user owns alone."""
    owned = list(Organization.objects.filter(memberships__user=user, memberships__role=Role.OWNER))
    for organization in owned:
        organization.delete()


def user_export(*, user) -> dict:
    return {
        "memberships": [
            {
                "organization_id": str(m.organization_id),
                "organization": m.organization.name,
                "role": m.role,
                "status": m.status,
                "display_name": m.display_name,
                "title": m.title,
                "joined_at": m.joined_at,
            }
            for m in Membership.objects.filter(user=user).select_related("organization")
        ]
    }


def register() -> None:
    hooks.organization_create.provide(organization_create)
    hooks.default_organization.provide(default_organization)
    hooks.organization_summary.provide(organization_summary)
    hooks.token_claims.provide(token_claims)
    hooks.user_deletion_blocker.provide(user_deletion_blocker)
    hooks.user_export.provide(user_export)
    hooks.user_deleted.provide(user_deleted_cleanup)
    hooks.domain_sign_in.provide(domains.domain_sign_in)
