"""No write route silently ignores a body field it does not know (API.md v1.1 request conventions).

Generated from the URL conf, like organizations/tests/test_tenant_isolation.py: every POST, PUT,
PATCH and DELETE under /api/v1/ is called by someone allowed to (the owner of org A, who is also
staff, in a session that passed MFA) with real ids of org A's objects and the body
`{"zz_not_a_field": 1}`. Endpoints with a serializer refuse the field through it; endpoints that
take no body call `core.serializers.body_refuse(request)` before anything else. Either way the
answer is a 400 VALIDATION_ERROR naming the field, and nothing changed.

A route whose call fails legitimately before any body is read (a provider that is not configured
here: 503; a conflict or a plan gate checked in the permission layer) is tolerated and listed in the
failure message; a 2xx, or a 400 that does not name the field, never is.
"""

from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import transaction
from django.urls import get_resolver
from rest_framework.test import APIClient

from accounts.sessions import session_create
from accounts.tokens import hash_secret
from core.actor import Actor
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from organizations.tests.test_tenant_isolation import _methods, _walk, objects_of

pytestmark = pytest.mark.django_db

FIELD = "zz_not_a_field"
WRITES = ("post", "put", "patch", "delete")

# Routes whose body is not a field list of ours, with the reason.
EXCEPTIONS = {
    "api/v1/billing/webhooks/stripe": "Stripe's event payload, verified by its signature over the raw bytes; its fields are Stripe's",
    "api/v1/billing/webhooks/razorpay": "Razorpay's event payload, verified by its signature over the raw bytes; its fields are Razorpay's",
    "api/v1/auth/sso/<uuid:connection_id>/acs": "an IdP's SAML HTTP-POST form (SAMLResponse, RelayState), verified by the assertion's XML signature",
}

# A failure that legitimately comes before the body is read: reported, not failed on.
TOLERATED = {402, 403, 404, 409, 503}


def write_routes() -> list[tuple[str, str]]:
    """(route, method) for every write route under /api/v1/."""
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        if route.startswith("api/v1/"):
            routes.extend((route, method) for method in _methods(callback) if method in WRITES)
    return routes


def _world() -> tuple[APIClient, dict]:
    """Org A, owned by a staff user signed in with MFA, with one of everything the routes name."""
    from ai.models import Conversation
    from billing.models import AddOn, Payment, Plan, Subscription, SubscriptionAddOn
    from integrations import services as integration_services
    from integrations.providers import provider_get
    from messaging import services as messaging_services
    from notifications.tests.factories import NotificationFactory
    from permissions.models import PlatformPermission, Role

    org_a = OrganizationFactory()
    owner = MembershipFactory(organization=org_a, role="owner", user__is_staff=True)
    member = MembershipFactory(organization=org_a, role="member")
    system = Actor.system()
    as_owner = Actor.for_user(owner.user)

    world = objects_of(org_a, member)
    # An unused custom role: deleting the seeded one (it has an assignment) would be a 409 first.
    world["role_id"] = Role.objects.create(organization=org_a, slug="unused", name="Unused", permissions=["org:read"]).id

    invite_code = "zz-invite-code-of-org-a"
    apps.get_model("organizations", "Invite").objects.filter(id=world["invite_id"]).update(code_hash=hash_secret(invite_code))
    world["code"] = invite_code

    # A manual subscription with a pending cancellation and an add-on held.
    account, _ = Subscription.objects.update_or_create(
        organization=org_a,
        defaults={
            "plan": Plan.objects.get(code="team"),
            "provider": Subscription.Provider.MANUAL,
            "status": Subscription.Status.ACTIVE,
            "active_until": datetime(2100, 1, 1, tzinfo=UTC),
            "cancel_at_period_end": True,
        },
    )
    SubscriptionAddOn.objects.create(organization=org_a, subscription=account, add_on=AddOn.objects.get(code="extra_seats"), quantity=1)
    world["add_on_code"] = "extra_seats"
    world["payment_id"] = Payment.objects.create(
        organization=org_a, provider=Payment.Provider.RAZORPAY, amount=100, currency="inr", description="d", razorpay_order_id="order_zz"
    ).id
    world["payment_method_id"] = "pm_zz"

    integration_services.integration_connect(
        organization=org_a, provider=provider_get("sendgrid"), type="api_key", credentials={"api_key": "SG.zz"}, actor=system
    )
    world["key"] = "sendgrid"

    world["notification_id"] = NotificationFactory(user=owner.user, organization=org_a).id
    world["conversation_id"] = Conversation.objects.create(organization=org_a, user=owner.user, title="t", model="m").id

    chat, _ = messaging_services.chat_create(organization=org_a, actor=as_owner, kind="group", member_ids=[member.user_id], name="g")
    world["chat_id"] = chat.id
    world["message_id"] = messaging_services.message_send(organization=org_a, actor=as_owner, chat_id=chat.id, content="hi").id
    world["call_id"] = messaging_services.call_start(organization=org_a, actor=as_owner, chat_id=chat.id, kind="audio").id

    world["code_platform"] = PlatformPermission.objects.create(code="crm:write", description="CRM writes").code
    world["session_id"] = session_create(user=owner.user, actor=as_owner, organization_id=org_a.id).session.id
    world["method_id"] = "totp"
    world["provider"] = "google"

    pair = session_create(user=owner.user, actor=as_owner, mfa_verified=True, organization_id=org_a.id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    world["org_id"] = org_a.id
    return client, world


def _value(route: str, name: str, world: dict):
    if name == "id":
        if route.startswith("api/v1/billing/payments/"):
            return world["payment_id"]
        if route.startswith("api/v1/billing/payment-methods/"):
            return world["payment_method_id"]
    if name == "code":
        if route.startswith("api/v1/billing/add-ons/"):
            return world["add_on_code"]
        if route.startswith("api/v1/permissions/"):
            return world["code_platform"]
    if name not in world:
        raise KeyError(name)
    return world[name]


def _fill(route: str, world: dict) -> str:
    path = "/" + route
    while "<" in path:
        start = path.index("<")
        end = path.index(">", start)
        name = path[start + 1 : end].split(":")[-1]
        path = path[:start] + str(_value(route, name, world)) + path[end + 1 :]
    return path


def _call(client: APIClient, method: str, path: str):
    """Call once with the unknown field, then undo whatever the call did (each route sees the same world)."""
    with transaction.atomic():
        response = getattr(client, method)(path, {FIELD: 1}, format="json")
        if response.status_code == 415:
            # An upload route takes multipart only: the same field, in the form it reads.
            response = getattr(client, method)(path, {FIELD: "1"}, format="multipart")
        transaction.set_rollback(True)
    cache.clear()  # cached session and plan states must not outlive the rows rolled back
    return response


def _verdict(response) -> tuple[str, str]:
    """("ok" | "tolerated" | "fail", why)."""
    status = response.status_code
    if 200 <= status < 300:
        return "fail", f"{status}: accepted, the field was silently ignored"
    body = response.json() if response.get("Content-Type", "").startswith("application/json") else {}
    error = body.get("error", {}) if isinstance(body, dict) else {}
    details = error.get("details") or {}
    if status == 400:
        if error.get("code") == "VALIDATION_ERROR" and isinstance(details, dict) and FIELD in details:
            return "ok", ""
        return "fail", f"400 not naming {FIELD}: {error}"
    if status in TOLERATED:
        return "tolerated", f"{status} {error.get('code')}: {error.get('message')}"
    return "fail", f"{status}: {error or response.content[:200]!r}"


def test_every_write_route_refuses_an_unknown_body_field(unlimited_plan):
    # given org A, its owner (staff, MFA) and one of everything the routes name
    client, world = _world()
    routes = write_routes()
    assert len(routes) > 80
    failures, tolerated, unknown_params = [], [], []
    for route, method in routes:
        if route in EXCEPTIONS:
            continue
        try:
            path = _fill(route, world)
        except KeyError as missing:
            unknown_params.append(f"{method.upper()} {route}: no object of org A for path parameter {missing}")
            continue
        # when the body carries a field the endpoint does not know
        verdict, why = _verdict(_call(client, method, path))
        # then it is refused naming the field (or the call fails earlier for a reason reported here)
        if verdict == "fail":
            failures.append(f"{method.upper()} {path}: {why}")
        elif verdict == "tolerated":
            tolerated.append(f"{method.upper()} {path}: {why}")
    message = "\n".join(
        ["routes that do not refuse an unknown body field:", *failures, *unknown_params, "", "tolerated (failed before the body was read):", *tolerated]
    )
    assert failures == [] and unknown_params == [], message


def test_the_exceptions_are_real_routes():
    # given the listed exceptions, when the routes are walked, then each still exists (no stale entry)
    routes = {route for route, _ in write_routes()}
    assert set(EXCEPTIONS) <= routes
