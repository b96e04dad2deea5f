"""Role matrix, generated from the URL conf: each built-in role (and a custom role) × each write route.

Where the route's declared permission is not in the role, the answer is 403
INSUFFICIENT_PERMISSIONS; where it is, the permission check lets the call through (the
answer may still be 2xx/4xx for other reasons, but never that 403).
"""

import pytest

from conftest import client_for
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from organizations.tests.test_tenant_isolation import _body, _declared, _fill, objects_of, org_scoped_routes
from permissions.engine import MEMBERSHIP, builtin_permissions

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch", "delete")
# Routes whose success changes who the caller is in the org run last, so earlier checks stand.
_LAST = ("/leave", "transfer-ownership")


def _ordered_writes():
    routes = [(r, c, m) for r, c, m in org_scoped_routes() if m in WRITES]
    return sorted(
        routes, key=lambda item: (any(item[0].endswith(x) or x in item[0] for x in _LAST), item[0] == "api/v1/orgs/<uuid:org_id>" and item[2] == "delete")
    )


def _check(role: str, granted: frozenset[str], before=None):
    organization = OrganizationFactory()
    if role != "owner":
        MembershipFactory(organization=organization, role="owner")
    if before is not None:
        before(organization)
    caller = MembershipFactory(organization=organization, role=role)
    target = MembershipFactory(organization=organization, role="member")
    objects = objects_of(organization, target)
    client = client_for(caller.user, organization)
    wrong = []
    for route, callback, method in _ordered_writes():
        permission = _declared(callback, method)
        expected_allowed = permission == MEMBERSHIP or permission in granted
        response = getattr(client, method)(_fill(route, organization.id, objects), _body(target), format="json")
        refused = response.status_code == 403 and response.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
        if expected_allowed == refused:
            wrong.append(f"{role}: {method.upper()} {route} needs {permission} -> {response.status_code} {response.content[:120]!r}")
    return wrong


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_builtin_roles_on_every_write_route(role):
    assert _check(role, builtin_permissions(role)) == []


def test_custom_role_on_every_write_route():
    from permissions.models import Role

    granted = frozenset({"org:read", "teams:read", "teams:manage", "members:read"})

    def create_role(organization):
        Role.objects.create(organization=organization, slug="team-lead", name="Team lead", permissions=sorted(granted))

    assert _check("team-lead", granted, before=create_role) == []
