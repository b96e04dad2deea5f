"""SSO API: connections under /orgs/{org_id}/sso/ (admins, plan flag `sso`), and the public sign-in routes under /auth/sso/.

The sign-in routes are browser navigations (login, OIDC callback, SAML ACS) and need Django's
session: allauth stashes the state there, bound to the browser that started (API.md v1.1 invariant 4).
"""

from django.db import transaction
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core import entitlements
from core.actor import actor_of, principal_of
from core.exceptions import conflict, validation_error
from core.roles import Role
from core.schema import errors
from core.serializers import body_refuse
from organizations.permissions import ORG_UPDATE
from permissions.drf import HasOrgPermission, OrgScopedMixin, held_now
from sso import oidc, saml, selectors, services, signin
from sso.api import serializers as s
from sso.models import SSOConnection

TAGS = ["sso"]
ERRORS = errors(400, 401, 403, 404)
UPGRADE = {402: OpenApiResponse(description="PLAN_UPGRADE_REQUIRED (the org's plan lacks `sso`)")}
TO_FRONTEND = "Redirect to `{FRONTEND_URL}/auth/callback#...`: the tokens, `status=mfa_required&mfa_token=...`, or `error=<code>`."
# Writes fetch the IdP's documents first: no request-wide transaction held across that HTTP call
# (the services open their own around the rows and the audit event).
non_atomic = method_decorator(transaction.non_atomic_requests, name="dispatch")


def connection_data(request, connection: SSOConnection) -> dict:
    data = {
        "id": connection.id,
        "type": connection.kind,
        "name": connection.name,
        "domains": connection.domains,
        "enforce": connection.enforce,
        "trusted_permissions": connection.trusted_permissions,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
    }
    if connection.kind == SSOConnection.Kind.OIDC:
        data["oidc"] = {"issuer": connection.issuer, "client_id": connection.social_app.client_id, "redirect_uri": oidc.callback_url(request, connection.id)}
    else:
        data["saml"] = {"idp_entity_id": connection.issuer, "metadata_url": connection.metadata_url}
        data["sp"] = saml.sp_urls(request, connection.id)
    return s.ConnectionSerializer(data).data


def trust_of(request, context) -> list[str]:
    """What the caller vouches for when choosing an IdP: everything for the owner, else what they hold right now."""
    if context.membership is not None and context.membership.role == Role.OWNER and context.api_key is None:
        return [SSOConnection.ALL]
    return sorted(held_now(request, context))


def self_lockout_refuse(request, context, *, domains, enforce: bool) -> None:
    """409 when enforcing these domains would end the caller's own session (not through SSO, not the owner).

    Enforcement applies to every request of a session not opened through the IdP: an admin at the
    domain turning it on from a password session would lock themselves out mid-setup. They sign in
    through the connection first (which also proves it works), then enforce.
    """
    membership = context.membership
    if not enforce or membership is None or context.api_key is not None or membership.role == Role.OWNER or principal_of(request).sso:
        return
    domain = selectors.email_domain(request.user.email)
    if domain in set(domains or ()):
        raise conflict(
            f"Enforcing SSO for {domain} would end your own session, which did not come through SSO: sign in through this"
            " connection first (POST /api/v1/auth/sso/start), then turn on enforce.",
            enforce=["Sign in through this connection first."],
        )


class HasSSOFeature(BasePermission):
    """After the org permission: 402 PLAN_UPGRADE_REQUIRED unless the org's plan has `sso`."""

    def has_permission(self, request, view) -> bool:
        entitlements.require_feature(view.organization, signin.FEATURE)
        return True


class ConnectionScoped(OrgScopedMixin):
    # Who may ask comes first (401/403/404), then whether the plan offers it (402).
    permission_classes = [HasOrgPermission, HasSSOFeature]


@non_atomic
class ConnectionListCreateView(ConnectionScoped, APIView):
    required_permissions = {"GET": ORG_UPDATE, "POST": ORG_UPDATE}

    @extend_schema(
        summary="The org's SSO connections",
        operation_id="orgs_sso_connections_list",
        responses={200: s.ConnectionListSerializer, **UPGRADE, **ERRORS},
        tags=TAGS,
    )
    def get(self, request, org_id):
        """The org's SSO connections (secrets are never returned)."""
        connections = selectors.connection_list(organization=self.organization)
        return Response({"data": [connection_data(request, connection) for connection in connections]})

    @extend_schema(
        summary="Add an SSO connection",
        request=s.ConnectionCreateSerializer,
        responses={201: s.ConnectionSerializer, 409: OpenApiResponse(description="CONFLICT (a domain is served by another connection)"), **UPGRADE, **ERRORS},
        tags=TAGS,
    )
    def post(self, request, org_id):
        """Add an OIDC (issuer → discovery, client id/secret) or SAML (IdP metadata) connection for some of the org's verified domains."""
        serializer = s.ConnectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self_lockout_refuse(request, self.org_context, domains=data.get("domains"), enforce=data.get("enforce", False))
        connection = services.connection_create(
            organization=self.organization, actor=actor_of(request), data=serializer.validated_data, trusted_permissions=trust_of(request, self.org_context)
        )
        return Response(connection_data(request, connection), status=status.HTTP_201_CREATED)


@non_atomic
class ConnectionDetailView(ConnectionScoped, APIView):
    required_permissions = {"GET": ORG_UPDATE, "PATCH": ORG_UPDATE, "DELETE": ORG_UPDATE}

    def get_connection(self, connection_id) -> SSOConnection:
        return selectors.connection_get(organization=self.organization, connection_id=connection_id)

    @extend_schema(summary="One SSO connection", responses={200: s.ConnectionSerializer, **UPGRADE, **ERRORS}, tags=TAGS)
    def get(self, request, org_id, connection_id):
        """One SSO connection of the org."""
        return Response(connection_data(request, self.get_connection(connection_id)))

    @extend_schema(
        summary="Change an SSO connection",
        request=s.ConnectionUpdateSerializer,
        responses={200: s.ConnectionSerializer, 409: OpenApiResponse(description="CONFLICT (a domain is served by another connection)"), **UPGRADE, **ERRORS},
        tags=TAGS,
    )
    def patch(self, request, org_id, connection_id):
        """Change name, domains, `enforce` or the IdP settings (the type is fixed)."""
        connection = self.get_connection(connection_id)
        serializer = s.ConnectionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        wrong = "saml" if connection.kind == SSOConnection.Kind.OIDC else "oidc"
        if wrong in data:
            raise validation_error(wrong, f"Not used by a {connection.kind} connection.")
        self_lockout_refuse(request, self.org_context, domains=data.get("domains", connection.domains), enforce=data.get("enforce", connection.enforce))
        trust = trust_of(request, self.org_context)
        connection = services.connection_update(connection=connection, actor=actor_of(request), data=data, trusted_permissions=trust)
        return Response(connection_data(request, connection))

    @extend_schema(summary="Delete an SSO connection", responses={204: None, **UPGRADE, **ERRORS}, tags=TAGS)
    def delete(self, request, org_id, connection_id):
        """Delete the connection and the sign-in links made through it."""
        body_refuse(request)
        services.connection_delete(connection=self.get_connection(connection_id), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- public sign-in routes -----------------------------------------------------------------------

CONNECTION_PATH = [OpenApiParameter("connection_id", str, OpenApiParameter.PATH)]


class StartView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "login"

    @extend_schema(
        summary="Start SSO sign-in", request=s.StartSerializer, responses={200: s.StartResponseSerializer, **errors(400, 404)}, auth=[{}], tags=["auth"]
    )
    def post(self, request):
        """Find the SSO connection for an e-mail (its verified domain) or an org slug; open `redirect_url` in the browser."""
        serializer = s.StartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data.get("email")
        connection = signin.connection_find(email=email, organization_slug=serializer.validated_data.get("organization_slug"))
        return Response({"redirect_url": signin.login_url(request=request, connection=connection, email=email)})


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Go to the IdP",
        parameters=[*CONNECTION_PATH, OpenApiParameter("login_hint", str, required=False)],
        responses={302: OpenApiResponse(description="Redirect to the IdP (or to the front end with `#error=<code>`).")},
        auth=[{}],
        tags=["auth"],
    )
    def get(self, request, connection_id):
        """The browser's start: allauth stashes the state in this browser's session, then on to the IdP."""
        return signin.login_redirect(request=request._request, connection_id=connection_id, login_hint=request.query_params.get("login_hint"))


class CallbackView(APIView):
    permission_classes = [AllowAny]
    # As Google's callback: DRF must not overwrite the Django request's user allauth works with.
    authentication_classes = [SessionAuthentication]

    @extend_schema(
        summary="OIDC redirect target", parameters=CONNECTION_PATH, responses={302: OpenApiResponse(description=TO_FRONTEND)}, auth=[{}], tags=["auth"]
    )
    def get(self, request, connection_id):
        """The IdP's redirect: allauth checks the state, exchanges the code, checks the ID token; then the front end."""
        return signin.callback(request=request._request, connection_id=connection_id)


class AcsView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="SAML Assertion Consumer Service",
        parameters=CONNECTION_PATH,
        request=None,
        responses={302: OpenApiResponse(description="Redirect to `acs/finish`.")},
        auth=[{}],
        tags=["auth"],
    )
    def post(self, request, connection_id):
        """The IdP's HTTP-POST of the SAML response (handed on to `acs/finish`, where this browser's session is read)."""
        return saml.acs_receive(request=request._request, connection_id=connection_id)


class AcsFinishView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = [SessionAuthentication]

    @extend_schema(
        summary="Finish a SAML sign-in", parameters=CONNECTION_PATH, responses={302: OpenApiResponse(description=TO_FRONTEND)}, auth=[{}], tags=["auth"]
    )
    def get(self, request, connection_id):
        """Validate the SAML response and sign in; then the front end."""
        return signin.acs_finish(request=request._request, connection_id=connection_id)


class MetadataView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Our SAML SP metadata",
        parameters=CONNECTION_PATH,
        responses={(200, "application/samlmetadata+xml"): str, **errors(404)},
        auth=[{}],
        tags=["auth"],
    )
    def get(self, request, connection_id):
        """The SP metadata of a SAML connection (entity id, ACS), for IdPs that import it."""
        document = signin.sp_metadata(request=request._request, connection_id=connection_id)
        return HttpResponse(document, content_type="application/samlmetadata+xml")
