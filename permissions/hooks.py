"""Implementations of hooks the permissions app provides to lower apps."""

from core import clock, hooks
from core.roles import Role as BuiltinRole
from organizations import selectors as organization_selectors
from organizations.context import membership_of
from organizations.models import Membership
from permissions import engine
from permissions.models import ApiKey, Role, RoleAssignment


def role_exists(*, organization, slug: str) -> bool:
    """A built-in role or a custom role of this org."""
    return BuiltinRole.is_builtin(slug) or Role.objects.filter(organization=organization, slug=slug).exists()


def member_cleanup(*, organization, user) -> None:
    """A leaving member loses their extra role assignments."""
    RoleAssignment.objects.filter(organization=organization, user=user).delete()


def organization_stats(*, organization) -> dict:
    return {"api_keys": ApiKey.objects.for_organization(organization).filter(revoked_at__isnull=True).count()}


def user_organizations(*, user) -> list[dict]:
    """The user's active memberships as {id, name, slug, role}, by org name (one query)."""
    return [
        {"id": str(m.organization_id), "name": m.organization.name, "slug": m.organization.slug, "role": m.role}
        for m in organization_selectors.organization_list_for_user(user=user)
    ]


def permission_claims(*, user, organization_id, mfa: bool, ip) -> list[str]:
    """Effective permissions of an active member in the org (roles, assignments, policies with these facts)."""
    membership = membership_of(user, organization_id) if organization_id else None
    if membership is None or membership.status != Membership.Status.ACTIVE:
        return []
    # Every sign-in and refresh asks: membership, subject and policies come from the shared cache
    # (one round trip each when warm); the decision itself is computed, never cached, because
    # policies with time windows or IP ranges depend on the moment and the session.
    subject, policies = engine.member_inputs(organization=membership.organization, membership=membership)
    facts = engine.Facts(mfa=mfa, ip=ip, now=clock.now())
    return engine.effective_permissions(subject=subject, policies=policies, facts=facts)


def register() -> None:
    hooks.role_exists.provide(role_exists)
    hooks.member_cleanup.provide(member_cleanup)
    hooks.organization_stats.provide(organization_stats)
    hooks.user_organizations.provide(user_organizations)
    hooks.permission_claims.provide(permission_claims)
