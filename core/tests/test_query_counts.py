"""Every list endpoint runs as many queries for 100 rows as for 10 (no N+1), as issue 7 asks.

The list endpoints are found in the OpenAPI schema (every GET whose 200 body is `{"data": [...]}`),
so a new one cannot slip by: `test_every_list_endpoint_is_covered` fails until it is added to
ROW_FACTORIES (a function that adds `count` rows the endpoint lists) or, with a reason, to one of
the sets below it.

To cover a new endpoint: write `def _my_rows(world: World, count: int) -> None` that creates
`count` more rows the endpoint shows to `world.client` (the owner of `world.organization`,
signed in with that org active), and add `"/api/v1/...": _my_rows` to ROW_FACTORIES. Path
parameters are filled from World (`{org_id}`, `{team_id}`, `{chat_id}`).
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator

from accounts.models import UserSession
from audit.services import event_record
from billing.models import AddOn, Plan
from conftest import client_for
from core import clock
from core.actor import Actor
from documents.models import Document
from notifications.tests.factories import NotificationFactory
from organizations.models import Domain, Invite, TeamMembership
from organizations.tests.factories import MembershipFactory, OrganizationFactory, TeamFactory
from permissions.models import ApiKey, Policy, Role, RoleAssignment

pytestmark = pytest.mark.django_db


@dataclass
class World:
    """An org, its owner signed in with it active, and one team (for team-scoped lists)."""

    organization: object
    owner: object
    client: object
    team: object
    _chat: object = None

    def chat(self):
        """A group chat of the owner and one member (made on first use)."""
        if self._chat is None:
            self._chat = _chat_create(self)
        return self._chat

    def url(self, path: str) -> str:
        chat_id = self.chat().id if "{chat_id}" in path else None
        return path.format(org_id=self.organization.id, team_id=self.team.id, chat_id=chat_id)


# --- row factories: each adds `count` more rows its endpoint lists ---------------------------


def _sessions(world: World, count: int) -> None:
    now = clock.now()
    UserSession.objects.bulk_create(
        UserSession(user=world.owner, expires_at=now + timedelta(days=1), refresh_jti=uuid.uuid4().hex, organization_id=world.organization.id)
        for _ in range(count)
    )


def _organizations(world: World, count: int) -> None:
    for _ in range(count):
        MembershipFactory(organization=OrganizationFactory(), user=world.owner, role="member")


def _members(world: World, count: int) -> None:
    for _ in range(count):
        MembershipFactory(organization=world.organization)


def _invites(world: World, count: int) -> None:
    for _ in range(count):
        invite = Invite.objects.create(
            organization=world.organization, email=f"{uuid.uuid4().hex[:12]}@example.com", role="member",
            code_hash=uuid.uuid4().hex, expires_at=clock.now() + timedelta(days=7), invited_by=world.owner,
        )  # fmt: skip
        invite.teams.add(world.team)


def _teams(world: World, count: int) -> None:
    for _ in range(count):
        team = TeamFactory(organization=world.organization)
        TeamMembership.objects.create(team=team, user=MembershipFactory(organization=world.organization).user)


def _team_members(world: World, count: int) -> None:
    for _ in range(count):
        TeamMembership.objects.create(team=world.team, user=MembershipFactory(organization=world.organization).user)


def _domains(world: World, count: int) -> None:
    for _ in range(count):
        Domain.objects.create(organization=world.organization, domain=f"d{uuid.uuid4().hex[:10]}.example.com", verification_token=uuid.uuid4().hex)


def _custom_role(world: World) -> Role:
    slug = f"custom-{uuid.uuid4().hex[:8]}"
    return Role.objects.create(organization=world.organization, slug=slug, name=slug, permissions=["members:read", "audit:read"])


def _roles(world: World, count: int) -> None:
    for _ in range(count):
        _custom_role(world)


def _role_assignments(world: World, count: int) -> None:
    role = _custom_role(world)
    for _ in range(count):
        user = MembershipFactory(organization=world.organization).user
        RoleAssignment.objects.create(organization=world.organization, user=user, role=role, assigned_by=world.owner)


def _policies(world: World, count: int) -> None:
    for n in range(count):
        Policy.objects.create(
            organization=world.organization, name=f"policy {uuid.uuid4().hex[:8]}", effect="allow",
            permissions=["audit:read"], subjects={"roles": ["member"]}, conditions={"mfa_required": bool(n % 2)},
        )  # fmt: skip


def _api_keys(world: World, count: int) -> None:
    for _ in range(count):
        ApiKey.objects.create(
            organization=world.organization, name="key", prefix=f"sk_{uuid.uuid4().hex[:16]}", secret_hash="0" * 64,
            scopes=["members:read"], created_by=world.owner,
        )  # fmt: skip


def _audit_events(world: World, count: int) -> None:
    for n in range(count):
        event_record(action="doc.edited", actor=Actor.for_user(world.owner), organization_id=world.organization.id, target_type="doc", target_id=str(n))


def _documents(world: World, count: int) -> None:
    for n in range(count):
        Document.objects.create(
            organization=world.organization, title=f"Doc {n}", filename=f"doc-{n}.txt", content_type="text/plain",
            size=3, file=f"documents/{uuid.uuid4().hex}.txt", uploaded_by=world.owner,
        )  # fmt: skip


def _notifications(world: World, count: int) -> None:
    for _ in range(count):
        NotificationFactory(user=world.owner, organization=world.organization)


def _chat_create(world: World):
    from messaging import services as messaging_services

    other = MembershipFactory(organization=world.organization).user
    chat, _ = messaging_services.chat_create(
        organization=world.organization, actor=Actor.for_user(world.owner), kind="group", member_ids=[other.id], name=f"chat {uuid.uuid4().hex[:8]}"
    )
    return chat


def _chats(world: World, count: int) -> None:
    for _ in range(count):
        _chat_create(world)


def _messages(world: World, count: int) -> None:
    from messaging import services as messaging_services

    for n in range(count):
        messaging_services.message_send(organization=world.organization, actor=Actor.for_user(world.owner), chat_id=world.chat().id, content=f"message {n}")


def _conversations(world: World, count: int) -> None:
    from ai.models import Conversation

    for n in range(count):
        Conversation.objects.create(organization=world.organization, user=world.owner, title=f"Conversation {n}", model="fake-model")


def _plans(world: World, count: int) -> None:
    template = Plan.objects.get(code="free")
    for _ in range(count):
        template.pk = None
        template.code = f"p-{uuid.uuid4().hex[:10]}"
        template.save()


def _add_ons(world: World, count: int) -> None:
    for n in range(count):
        AddOn.objects.create(code=f"a-{uuid.uuid4().hex[:10]}", name=f"Add-on {n}", price_month=100, price_year=1000, grant_limits={"max_members": 1})


ROW_FACTORIES = {
    "/api/v1/auth/sessions": _sessions,
    "/api/v1/orgs": _organizations,
    "/api/v1/orgs/{org_id}/members": _members,
    "/api/v1/orgs/{org_id}/invites": _invites,
    "/api/v1/orgs/{org_id}/teams": _teams,
    "/api/v1/orgs/{org_id}/teams/{team_id}/members": _team_members,
    "/api/v1/orgs/{org_id}/domains": _domains,
    "/api/v1/orgs/{org_id}/roles": _roles,
    "/api/v1/orgs/{org_id}/role-assignments": _role_assignments,
    "/api/v1/orgs/{org_id}/policies": _policies,
    "/api/v1/orgs/{org_id}/api-keys": _api_keys,
    "/api/v1/orgs/{org_id}/audit-logs": _audit_events,
    "/api/v1/orgs/{org_id}/documents": _documents,
    "/api/v1/notifications": _notifications,
    "/api/v1/billing/plans": _plans,
    "/api/v1/billing/add-ons": _add_ons,
    "/api/v1/chats": _chats,
    "/api/v1/chats/{chat_id}/messages": _messages,
    "/api/v1/ai/conversations": _conversations,
}

# Lists that are not rows of a table growing with use: answered from code or one row.
NOT_ROW_LISTS = {
    "/api/v1/orgs/{org_id}/permissions": "the permission catalog, declared in code",
    "/api/v1/orgs/{org_id}/me/permissions": "permission codes of one subject (cached), not rows",
    "/api/v1/orgs/{org_id}/members/{user_id}/permissions": "permission codes of one subject, not rows",
    "/api/v1/orgs/{org_id}/roles/{role_id}/permissions": "the codes of one role row",
    "/api/v1/orgs/{org_id}/my-teams": "teams of the caller: covered by the teams list's team rows",
    "/api/v1/billing/plans/compare": "one row per price/limit/feature name of the catalog",
    "/api/v1/ai/models": "the model catalog, configured in code",
    "/api/v1/integrations/providers": "the provider catalog, configured in code",
}
# Lists with their own constant-query test next to the Stripe fake that creates their rows.
COVERED_ELSEWHERE = {
    "/api/v1/billing/invoices": "billing/tests/test_records_api.py::test_list_endpoints_run_a_constant_number_of_queries",
    "/api/v1/billing/payments": "billing/tests/test_records_api.py::test_list_endpoints_run_a_constant_number_of_queries",
    # Seed 000's shapes ({"integrations": [...]}, {"logs": [...]}) are not found by the `data` scan.
    "/api/v1/integrations": "integrations/tests/test_query_counts.py",
    "/api/v1/integrations/logs": "integrations/tests/test_query_counts.py",
    "/api/v1/orgs/{org_id}/audit-logs/actors": "audit/tests/test_api_actors_offset.py::test_actors_take_constant_queries",
    # Needs a plan with `sso`, which this file's world is not on.
    "/api/v1/orgs/{org_id}/scim/tokens": "scim/tests/test_tokens_api.py::test_the_token_list_takes_constant_queries",
    "/api/v1/orgs/{org_id}/sso/connections": "sso/tests/test_connections_api.py::test_the_connection_list_takes_constant_queries",
    "/api/v1/orgs/{org_id}/roles/usage-counts": "permissions/tests/test_role_counts.py::test_role_counts_take_constant_queries",
    "/api/v1/orgs/{org_id}/members/{user_id}/roles": "permissions/tests/test_role_counts.py::test_a_members_roles_take_constant_queries",
    # Staff-only, so not in this file's owner world.
    "/api/v1/permissions": "permissions/tests/test_platform_permissions.py::test_the_registry_lists_in_constant_queries",
}
# Not covered yet: add a row factory above and remove the entry.
NOT_YET_COVERED = {
    "/api/v1/billing/payment-methods": "rows are dj-stripe PaymentMethods synced through the Stripe fake",
}


def list_endpoints() -> set[str]:
    """Paths of every GET operation whose 200 JSON body holds a `data` array (or is an array)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def is_list(node: dict) -> bool:
        node = resolve(node)
        if node.get("type") == "array":
            return True
        if any(is_list(option) for option in node.get("oneOf", []) + node.get("anyOf", [])):
            return True
        data = node.get("properties", {}).get("data")
        return data is not None and resolve(data).get("type") == "array"

    found = set()
    for path, operations in schema["paths"].items():
        body = operations.get("get", {}).get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        if body and is_list(body["schema"]):
            found.add(path)
    return found


def test_every_list_endpoint_is_covered():
    endpoints = list_endpoints()
    accounted = set(ROW_FACTORIES) | set(NOT_ROW_LISTS) | set(COVERED_ELSEWHERE) | set(NOT_YET_COVERED)

    missing = sorted(endpoints - accounted)

    assert "/api/v1/orgs/{org_id}/members" in endpoints  # the scan itself works
    assert not missing, f"list endpoints without a query-count test (add them to ROW_FACTORIES): {missing}"
    assert set(ROW_FACTORIES) <= endpoints, f"stale entries: {sorted(set(ROW_FACTORIES) - endpoints)}"


@pytest.fixture
def world(org_factory, unlimited_plan) -> World:
    organization, members = org_factory(roles=("owner",))
    owner = members["owner"].user
    team = TeamFactory(organization=organization)
    TeamMembership.objects.create(team=team, user=owner)
    return World(organization=organization, owner=owner, client=client_for(owner, organization), team=team)


def listed(world: World, url: str) -> tuple[list[str], int]:
    """(SQL of one warm GET of the list, items it returned); a first GET warms the caches."""
    assert world.client.get(url, {"limit": 100}).status_code == 200
    with CaptureQueriesContext(connection) as context:
        response = world.client.get(url, {"limit": 100})
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    items = body["data"] if isinstance(body, dict) else body
    return [query["sql"] for query in context.captured_queries], len(items)


def without_count(queries: list[str]) -> list[str]:
    """The queries but a paginator's `SELECT COUNT(*)`."""
    return [sql for sql in queries if not sql.startswith("SELECT COUNT(*)")]


@pytest.mark.parametrize("path", sorted(ROW_FACTORIES))
def test_queries_do_not_grow_with_rows(world, path):
    url = world.url(path)
    add_rows = ROW_FACTORIES[path]
    add_rows(world, 10)
    few, few_items = listed(world, url)

    add_rows(world, 90)
    many, many_items = listed(world, url)

    assert many_items > few_items >= 10  # the new rows are listed
    # A first page that holds every row needs no COUNT (core.pagination); a fuller one adds that one query.
    assert len(without_count(many)) == len(without_count(few)), "\n".join(["queries with 10 rows:", *few, "with 100 rows:", *many])
