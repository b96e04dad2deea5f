"""The permission catalog: every `resource:action` string is declared once, by its app, here.

Apps declare in their own `permissions.py` (`ORG_READ = declare("org:read", "...")`) and
refer to the returned constant everywhere else.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    """One permission of the catalog."""

    code: str
    description: str

    @property
    def resource(self) -> str:
        return self.code.split(":", 1)[0]

    @property
    def action(self) -> str:
        return self.code.split(":", 1)[1]

    def __str__(self) -> str:
        return self.code


_catalog: dict[str, Permission] = {}


def declare(code: str, description: str) -> str:
    """Add a permission to the catalog and return its code (declaring twice must agree)."""
    resource, sep, action = code.partition(":")
    if not (resource and sep and action):
        raise ValueError(f"permission {code!r} is not resource:action")
    existing = _catalog.get(code)
    if existing is not None and existing.description != description:
        raise ValueError(f"permission {code!r} declared twice with different descriptions")
    _catalog[code] = Permission(code=code, description=description)
    return code


def catalog() -> list[Permission]:
    """Every declared permission, sorted by code."""
    return sorted(_catalog.values(), key=lambda p: p.code)


def codes() -> frozenset[str]:
    """The set of declared permission codes."""
    return frozenset(_catalog)


def is_declared(code: str) -> bool:
    return code in _catalog
