"""The built-in roles every organization has.

A `StrEnum`: `Role.OWNER == "owner"`, so membership rows, role rows, policies and JSON keep
the plain slugs they always had.
"""

from enum import StrEnum


class Role(StrEnum):
    """A built-in role, most powerful first; each holds what every role below it holds (viewer ⊂ member ⊂ admin ⊂ owner)."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @classmethod
    def is_builtin(cls, slug: str) -> bool:
        """Tell whether `slug` names a built-in role (and not an org's custom one)."""
        return slug in _SLUGS

    def and_above(self) -> frozenset["Role"]:
        """This role and every more powerful one: who holds a permission granted from this role up."""
        return frozenset(BUILTIN_ROLES[: BUILTIN_ROLES.index(self) + 1])


# Most powerful first: the order roles are listed in.
BUILTIN_ROLES: tuple[Role, ...] = tuple(Role)
_SLUGS = frozenset(role.value for role in Role)
