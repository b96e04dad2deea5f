"""Tenant isolation, generated from the URL conf: every org-scoped route × method.

A member of org A (its owner: every permission) acting on org B's ids gets 404, and nothing
of org B changes. Routes are discovered, not listed: a new org-scoped route is covered (or
fails here until its path parameters are known) the day it is added.
"""

import json

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import client_for
from core.serializers import UNKNOWN_FIELD
from organizations.tests.factories import MembershipFactory, OrganizationFactory, TeamFactory
from permissions.drf import OrgScopedMixin

pytestmark = pytest.mark.django_db

_METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _view_class(callback):
    return getattr(callback, "view_class", None) or getattr(callback, "cls", None)


def _methods(callback) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return [m for m in actions if m in _METHODS]
    view = _view_class(callback)
    return [m for m in _METHODS if hasattr(view, m)]


def org_scoped_routes() -> list[tuple[str, object, str]]:
    """(route, callback, method) for every member-facing route under /api/v1/orgs/<org_id>/.

    /internal/v1/ routes take an org id too, but their caller is a signed product service, not a
    member (internal/tests hold them to their signature); so do /scim/v2/ routes, whose caller is
    an IdP holding the org's SCIM token (scim/tests/test_security.py holds them to it).
    """
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        if "<uuid:org_id>" in route and not route.startswith(("internal/", "scim/")):
            routes.extend((route, callback, method) for method in _methods(callback))
    return routes


def _declared(callback, method: str) -> str | None:
    view = _view_class(callback)
    declared = getattr(view, "required_permissions", {}) or {}
    action = (getattr(callback, "actions", None) or {}).get(method)
    return declared.get(action) or declared.get(method.upper())


def test_every_org_scoped_route_declares_its_permission():
    routes = org_scoped_routes()
    assert len(routes) > 20
    missing = []
    for route, callback, method in routes:
        view = _view_class(callback)
        if not issubclass(view, OrgScopedMixin) or not _declared(callback, method):
            missing.append(f"{method.upper()} {route}")
    assert missing == [], f"org-scoped routes without a declared permission: {missing}"


# --- the matrix --------------------------------------------------------------------------


def _org_rows(organization) -> str:
    """A canonical dump of everything that belongs to an org."""
    dump = {"org": list(type(organization).objects.filter(id=organization.id).values())}
    for model in apps.get_models():
        fields = {f.name for f in model._meta.get_fields()}
        if "organization" in fields and model._meta.app_label != "audit":
            dump[model._meta.label] = sorted(model.objects.filter(organization=organization).values(), key=lambda row: str(row.get("id") or row))
    team_model = apps.get_model("organizations", "TeamMembership")
    dump["team_members"] = sorted(team_model.objects.filter(team__organization=organization).values(), key=str)
    return json.dumps(dump, default=str, sort_keys=True)


def _world():
    """Org A (the caller owns it) and org B with one of everything."""
    from billing.tests.test_entitlements import put_on

    org_a = OrganizationFactory()
    # On the plan with every feature flag (sso...): a plan gate's 402 must not hide what isolation answers.
    put_on(org_a, "team")
    owner_a = MembershipFactory(organization=org_a, role="owner")
    member_a = MembershipFactory(organization=org_a, role="member")
    org_b = OrganizationFactory()
    MembershipFactory(organization=org_b, role="owner")
    member_b = MembershipFactory(organization=org_b, role="member")
    return org_a, owner_a, member_a, org_b, objects_of(org_b, member_b)


def objects_of(organization, member) -> dict:
    """One object of each org-scoped kind, keyed by the path parameter that names it."""
    from datetime import timedelta

    from audit.services import event_record
    from core import clock
    from core.actor import Actor

    tag = str(organization.id)[:8]
    team = TeamFactory(organization=organization)
    team.members.add(member.user)
    Invite = apps.get_model("organizations", "Invite")
    Domain = apps.get_model("organizations", "Domain")
    Role = apps.get_model("permissions", "Role")
    RoleAssignment = apps.get_model("permissions", "RoleAssignment")
    Policy = apps.get_model("permissions", "Policy")
    ApiKey = apps.get_model("permissions", "ApiKey")
    ScimToken = apps.get_model("scim", "ScimToken")
    role = Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["org:read"])
    domain = Domain.objects.create(organization=organization, domain=f"{tag}.example", verification_token="t")
    return {
        "user_id": member.user_id,
        "team_id": team.id,
        "invite_id": Invite.objects.create(
            organization=organization,
            email=f"someone-{tag}@example.com",
            role="member",
            code_hash=tag * 8,
            expires_at=clock.now() + timedelta(days=7),
        ).id,
        "domain_id": domain.id,
        "id": domain.id,
        "event_id": event_record(action="test.seeded", actor=Actor.system(), organization_id=organization.id, target=organization).id,
        "role_id": role.id,
        "assignment_id": RoleAssignment.objects.create(organization=organization, user=member.user, role=role).id,
        "policy_id": Policy.objects.create(
            organization=organization, name="p", effect="allow", permissions=["org:read"], subjects={"users": ["00000000-0000-4000-8000-000000000000"]}
        ).id,
        "token_id": ScimToken.objects.create(organization=organization, name="t", prefix=f"t{tag}", secret_hash="d" * 64).id,
        "connection_id": _sso_connection(organization, tag).id,
        "key_id": ApiKey.objects.create(organization=organization, name="k", prefix=f"k{tag}", secret_hash="c" * 64, scopes=["org:read"]).id,
        "document_id": apps.get_model("documents", "Document")
        .objects.create(organization=organization, title="d", filename="d.txt", content_type="text/plain", size=1, file=f"documents/{organization.id}/seeded")
        .id,
    }


def _sso_connection(organization, tag: str):
    """An SSO connection with its allauth app, written directly (no IdP to fetch from here)."""
    import uuid

    SocialApp = apps.get_model("socialaccount", "SocialApp")
    SSOConnection = apps.get_model("sso", "SSOConnection")
    connection_id = uuid.uuid4()
    app = SocialApp.objects.create(provider="openid_connect", provider_id=str(connection_id), name=f"sso-{tag}", client_id=f"c{tag}")
    return SSOConnection.objects.create(id=connection_id, organization=organization, kind="oidc", name=f"sso-{tag}", domains=[], social_app=app)


def _fill(route: str, org_id, objects: dict) -> str:
    path = "/" + route
    path = path.replace("<uuid:org_id>", str(org_id))
    while "<" in path:
        start = path.index("<")
        end = path.index(">", start)
        name = path[start + 1 : end].split(":")[-1]
        if name not in objects:
            raise AssertionError(f"test_tenant_isolation does not know path parameter {name!r} of {route}: add an object of org B for it")
        path = path[:start] + str(objects[name]) + path[end + 1 :]
    return path


def _body(member_a) -> dict:
    return {
        "name": "Changed",
        "slug": "changed-slug",
        "description": "x",
        "role": "viewer",
        "status": "suspended",
        "user_id": str(member_a.user_id),
        "email": "new@example.com",
        "permissions": ["org:read"],
        "display_name": "x",
        "title": "x",
        "confirm": "x",
        "settings": {"timezone": "UTC"},
        "effect": "deny",
        "domain": "changed.example",
        "join_policy": "invite",
        "scopes": ["org:read"],
    }


def _call(client, method: str, path: str, body: dict):
    """Call a route with the kitchen-sink body; where it refuses fields it does not know, again without them.

    Unknown fields are refused before any lookup (a 400 that says nothing about org B), so the
    second call is the one that must reach the lookup and find nothing.
    """
    if method == "get":
        return client.get(path)
    response = getattr(client, method)(path, body, format="json")
    details = response.json().get("error", {}).get("details", {}) if response.status_code == 400 else {}
    unknown = [name for name, messages in details.items() if messages == [UNKNOWN_FIELD]]
    if unknown and len(unknown) == len(details):
        response = getattr(client, method)(path, {k: v for k, v in body.items() if k not in unknown}, format="json")
    return response


def test_member_of_org_a_cannot_reach_org_b_through_any_route():
    org_a, owner_a, member_a, org_b, objects = _world()
    client = client_for(owner_a.user, org_a)
    before = _org_rows(org_b)
    failures = []
    for route, _, method in org_scoped_routes():
        variants = [("path org B", _fill(route, org_b.id, objects))]
        if route.count("<") > 1:
            variants.append(("org A, B's ids", _fill(route, org_a.id, objects)))
        for label, path in variants:
            response = _call(client, method, path, _body(member_a))
            if response.status_code != 404:
                failures.append(f"{method.upper()} {path} ({label}) -> {response.status_code}")
    assert failures == [], "\n".join(failures)
    assert _org_rows(org_b) == before, "org B changed"


def test_foreign_x_org_id_is_refused_not_served(user):
    org_b = OrganizationFactory()
    client = client_for(user)
    response = client.get("/api/v1/orgs", HTTP_X_ORG_ID=str(org_b.id))
    assert response.status_code == 200  # listing my orgs is not org-scoped
    assert str(org_b.id) not in response.content.decode()
