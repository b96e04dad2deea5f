"""The permission catalog: every `resource:action` string is declared once, by its app, with the built-in roles that get it.

Apps declare in their own `permissions.py`
(`ORG_READ = declare("org:read", "...", roles=(Role.VIEWER,))`) and refer to the returned
constant everywhere else; `core.checks` refuses to start when a view requires a code nobody
declared.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from core.roles import Role

# Not a permission: what a route requires when any active member of the org (never an API key)
# may call it. Views may name it in `required_permissions` like a declared code.
MEMBERSHIP = "membership"


@dataclass(frozen=True)
class Permission:
    """One permission of the catalog, with the built-in roles that hold it."""

    code: str
    description: str
    roles: frozenset[Role]

    @property
    def resource(self) -> str:
        return self.code.split(":", 1)[0]

    @property
    def action(self) -> str:
        return self.code.split(":", 1)[1]

    def __str__(self) -> str:
        return self.code


_catalog: dict[str, Permission] = {}


def declare(code: str, description: str, *, roles: Iterable[Role | str]) -> str:
    """Add a permission to the catalog and return its code (declaring twice must agree).

    `roles` names the lowest built-in role that gets it; every role above holds it too
    (viewer ⊂ member ⊂ admin ⊂ owner): `(Role.VIEWER,)` grants all four, `(Role.MEMBER,)`
    member, admin and owner, `(Role.ADMIN,)` admin and owner, `(Role.OWNER,)` the owner alone.
    Naming several roles grants from the lowest of them up. There is no default: each
    permission says who gets it, and a misspelled role fails at import.
    """
    resource, sep, action = code.partition(":")
    if not (resource and sep and action):
        raise ValueError(f"permission {code!r} is not resource:action")
    named = [Role(role) for role in roles]  # ValueError on a slug that is not a built-in role
    if not named:
        raise ValueError(f"permission {code!r} names no role (Role.OWNER grants it to the owner alone)")
    holders = frozenset().union(*(role.and_above() for role in named))
    existing = _catalog.get(code)
    if existing is not None and (existing.description, existing.roles) != (description, holders):
        raise ValueError(f"permission {code!r} declared twice with different descriptions or roles")
    _catalog[code] = Permission(code=code, description=description, roles=holders)
    return code


def catalog() -> list[Permission]:
    """Every declared permission, sorted by code."""
    return sorted(_catalog.values(), key=lambda p: p.code)


def codes() -> frozenset[str]:
    """The set of declared permission codes."""
    return frozenset(_catalog)


def is_declared(code: str) -> bool:
    return code in _catalog


def granted_to(role: str) -> frozenset[str]:
    """The permissions a built-in role holds by default (none for any other slug), from the live catalog."""
    return frozenset(permission.code for permission in _catalog.values() if role in permission.roles)
