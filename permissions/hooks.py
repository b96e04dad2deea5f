"""Implementations of hooks the permissions app provides to lower apps."""

from core import hooks
from core.roles import Role as BuiltinRole
from permissions.models import ApiKey, Role, RoleAssignment


def role_exists(*, organization, slug: str) -> bool:
    """A built-in role or a custom role of this org."""
    return BuiltinRole.is_builtin(slug) or Role.objects.filter(organization=organization, slug=slug).exists()


def member_cleanup(*, organization, user) -> None:
    """A leaving member loses their extra role assignments."""
    RoleAssignment.objects.filter(organization=organization, user=user).delete()


def organization_stats(*, organization) -> dict:
    return {"api_keys": ApiKey.objects.for_organization(organization).filter(revoked_at__isnull=True).count()}


def register() -> None:
    hooks.role_exists.provide(role_exists)
    hooks.member_cleanup.provide(member_cleanup)
    hooks.organization_stats.provide(organization_stats)
