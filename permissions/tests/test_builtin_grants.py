"""Built-in roles' default permissions, as the apps' declarations grant them (API.md "Default permissions of built-in roles").

The sets are pinned as the engine computed them before grants moved into the declarations
(`_VIEWER`, `_MEMBER_EXTRA`, `_ADMIN_EXCLUDED` in permissions/engine.py): moving them changed nothing.
"""

from itertools import pairwise

import pytest

from core import authz
from core.roles import BUILTIN_ROLES, Role
from permissions import engine

VIEWER = {"org:read", "members:read", "teams:read", "documents:read", "integrations:read", "messaging:read"}
MEMBER = VIEWER | {"documents:write", "messaging:write", "ai:use"}
OWNER = {
    "ai:use", "api_keys:manage", "audit:read", "billing:manage", "billing:read", "documents:read", "documents:write",
    "domains:manage", "integrations:manage", "integrations:read", "members:invite", "members:read", "members:remove",
    "members:update", "messaging:read", "messaging:write", "org:delete", "org:read", "org:transfer", "org:update",
    "roles:manage", "teams:manage", "teams:read",
}  # fmt: skip
ADMIN = OWNER - {"org:delete", "org:transfer", "billing:manage"}


@pytest.mark.parametrize(("role", "expected"), [("owner", OWNER), ("admin", ADMIN), ("member", MEMBER), ("viewer", VIEWER)])
def test_each_builtin_role_holds_exactly_what_it_held_before(role, expected):
    assert engine.builtin_permissions(role) == expected


def test_the_roles_nest_and_the_owner_holds_every_declared_permission():
    held = [engine.builtin_permissions(role) for role in reversed(BUILTIN_ROLES)]  # viewer → owner

    assert all(lower < higher for lower, higher in pairwise(held))
    assert engine.builtin_permissions(Role.OWNER) == authz.codes()
    assert engine.builtin_permissions("auditor") == frozenset()  # a custom role's slug: its row decides
