"""Integrations API: provider catalog, connect (credentials or OAuth), status, refresh, revoke, logs.

The org comes from `X-Org-ID` or the token's active org. The OAuth callback is the exception: the
provider sends the user's browser there without our token, so the signed state names user and org
and the callback checks that user's permission afresh. The state is bound to the caller who
started the flow (API.md v1.1 invariant 4): the start response sets an HttpOnly cookie scoped to
the callback path whose hash is in the state, and the callback needs that cookie or the starting
user's own bearer token.
"""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_of, principal_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError, validation_error
from core.schema import errors
from core.serializers import body_refuse
from integrations import oauth, selectors, services, vault
from integrations.api import serializers as s
from integrations.permissions import INTEGRATIONS_MANAGE, INTEGRATIONS_READ
from integrations.providers import provider_list
from permissions.drf import HasOrgPermission, OrgScopedMixin, authorize_member

TAGS = ["integrations"]
ERRORS = errors(400, 401, 403, 404, wording={404: "ORG_NOT_FOUND / NOT_FOUND (unknown provider, or not connected)"})
PROVIDER_ERRORS = {
    409: OpenApiResponse(description="CONFLICT (the provider refused: reconnect; or nothing to refresh with)"),
    503: OpenApiResponse(description="SERVICE_UNAVAILABLE (the provider is unreachable or OAuth is not configured)"),
}
KEY_PATH = [OpenApiParameter("key", str, OpenApiParameter.PATH, description="Provider key, e.g. gmail")]
# Views that call a provider commit their own writes: no request-wide transaction held across the
# HTTP call, and a failed refresh's log survives the error response.
non_atomic = method_decorator(transaction.non_atomic_requests, name="dispatch")


class IntegrationView(OrgScopedMixin, APIView):
    """Org-scoped integrations route: reads need integrations:read, writes integrations:manage."""

    # HasOrgPermission answers 401 to an anonymous caller before looking at the org.
    permission_classes = [HasOrgPermission]
    required_permissions = {"GET": INTEGRATIONS_READ, "POST": INTEGRATIONS_MANAGE}

    def get_integration(self, key: str):
        integration = selectors.integration_get(organization=self.organization, key=key)
        if integration is None:
            raise NotFound(f"No {key} integration is connected.")
        return integration


def _connected_body(integration, created: bool) -> Response:
    verb = "connected" if created else "reconnected"
    return Response(
        {"status": "ok", "message": f"{integration.key} {verb} successfully"},
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


class ProviderListView(IntegrationView):
    @extend_schema(responses={200: s.ProviderListSerializer, **ERRORS}, tags=TAGS, operation_id="integrations_providers")
    def get(self, request):
        """The providers this server can connect, with their auth types and default scopes."""
        providers = [
            {
                "key": p.key,
                "name": p.name,
                "auth_type": p.auth_type,
                "auth_types": list(p.auth_types),
                "scopes": list(p.scopes),
                "oauth_configured": p.oauth_configured,
            }
            for p in provider_list()
        ]
        return Response(s.ProviderListSerializer({"data": providers}).data)


class ConnectView(IntegrationView):
    @extend_schema(
        request=s.ConnectSerializer,
        responses={
            201: s.StatusMessageSerializer,
            200: OpenApiResponse(s.StatusMessageSerializer, description="Replaced the existing connection"),
            402: OpenApiResponse(description="PLAN_LIMIT_REACHED (max_integrations)"),
            **ERRORS,
        },
        tags=TAGS,
        operation_id="integrations_connect",
    )
    def post(self, request):
        """Connect a provider with supplied credentials (base64 JSON), encrypted at rest and never returned."""
        serializer = s.ConnectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        provider = services.provider_require(data["integration_key"], auth_type=data["type"])
        credentials = services.credentials_decode(encoded=data["credentials"], type=data["type"])
        integration, created = services.integration_connect(
            organization=self.organization,
            provider=provider,
            type=data["type"],
            credentials=credentials,
            expires_at=data.get("expires_at"),
            actor=actor_of(request),
        )
        return _connected_body(integration, created)


OAUTH_BINDING_COOKIE = "integrations_oauth_binding"


def _binding_cookie_path(key: str) -> str:
    # Sent only to this provider's callback, nowhere else on the API.
    return reverse("integrations:oauth-callback", kwargs={"key": key})


def _oauth_redirect_uri(request, key: str) -> str:
    """Where the provider sends the browser back: the configured URI, else this server's callback."""
    configured = settings.INTEGRATIONS_OAUTH_REDIRECT_URI
    if configured:
        return configured.replace("{key}", key)
    return request.build_absolute_uri(reverse("integrations:oauth-callback", kwargs={"key": key}))


class OAuthStartView(IntegrationView):
    # Its GET writes (core.handlers): keep the request transaction.
    atomic_reads = True
    required_permissions = {"GET": INTEGRATIONS_MANAGE}

    @extend_schema(parameters=KEY_PATH, responses={200: s.AuthorizeUrlSerializer, **ERRORS, **PROVIDER_ERRORS}, tags=TAGS)
    def get(self, request, key):
        """Begin the OAuth flow: the provider's authorize URL, with a signed 10-minute `state` (and PKCE).

        Also sets an HttpOnly cookie binding the flow to this browser: the callback must carry it
        (or this user's bearer token). Call it with credentials so the browser keeps the cookie.
        """
        started = services.oauth_start(
            organization=self.organization,
            user=request.user,
            key=key,
            redirect_uri=_oauth_redirect_uri(request, key),
            mfa=principal_of(request).mfa,
            sso=principal_of(request).sso,
        )
        response = Response({"authorize_url": started.authorize_url})
        # HttpOnly: no script reads it. Lax: the provider's top-level redirect back still carries it.
        # Secure wherever the session cookie is (production).
        response.set_cookie(
            OAUTH_BINDING_COOKIE,
            started.browser_secret,
            max_age=services.OAUTH_STATE_MAX_AGE,
            path=_binding_cookie_path(key),
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response


@non_atomic
class OAuthCallbackView(APIView):
    # The provider redirects the browser here without our token: the signed state authenticates.
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("key", str, OpenApiParameter.PATH, description="Provider key"),
            OpenApiParameter("code", str, OpenApiParameter.QUERY, description="Authorization code from the provider"),
            OpenApiParameter("state", str, OpenApiParameter.QUERY, description="The state from `oauth/{key}/start`"),
            OpenApiParameter("error", str, OpenApiParameter.QUERY, description="Set by the provider when the user declined"),
        ],
        responses={
            201: s.StatusMessageSerializer,
            200: OpenApiResponse(s.StatusMessageSerializer, description="Replaced the existing connection"),
            402: OpenApiResponse(description="PLAN_LIMIT_REACHED (max_integrations)"),
            **ERRORS,
            **PROVIDER_ERRORS,
        },
        tags=TAGS,
        auth=[],
    )
    def get(self, request, key):
        """Finish the OAuth flow: check the state and who completes it, exchange the code, store the tokens.

        Only the caller who started the flow completes it: the browser holding the start's cookie,
        or the starting user's bearer token. Anyone else is refused before the code is exchanged.
        """
        # Spent first, even when refused below: a refused victim's code must not be replayable.
        claims = services.oauth_state_read(key=key, state=request.query_params.get("state", ""))
        user = request.user if request.user.is_authenticated else None
        services.oauth_binding_check(claims=claims, browser_secret=request.COOKIES.get(OAUTH_BINDING_COOKIE), caller=user)
        if request.query_params.get("error"):
            raise validation_error("error", f"The provider reported: {request.query_params['error'][:100]}")
        code = request.query_params.get("code", "")
        if not code:
            raise validation_error("code", "The authorization code is missing.")
        membership = authorize_member(
            request,
            organization_id=claims["o"],
            user_id=claims["u"],
            permission=INTEGRATIONS_MANAGE,
            mfa=claims.get("m", False),
            sso=claims.get("s", False),
            caller=user,
        )
        # The provider's redirect may carry no token at all: the member who started the flow connects.
        actor = actor_of(request).as_user(membership.user)
        integration, created = services.oauth_complete(
            organization=membership.organization,
            provider_key=key,
            code=code,
            claims=claims,
            redirect_uri=_oauth_redirect_uri(request, key),
            actor=actor,
        )
        return _connected_body(integration, created)

    def finalize_response(self, request, response, *args, **kwargs):
        # The binding is single use, like the state: gone whatever the outcome.
        response = super().finalize_response(request, response, *args, **kwargs)
        if OAUTH_BINDING_COOKIE in request.COOKIES:
            response.delete_cookie(OAUTH_BINDING_COOKIE, path=_binding_cookie_path(kwargs["key"]), samesite="Lax")
        return response


class IntegrationListView(IntegrationView):
    @extend_schema(responses={200: s.IntegrationListSerializer, **ERRORS}, tags=TAGS, operation_id="integrations_list")
    def get(self, request):
        """The organization's integrations (revoked ones included); never their credentials."""
        integrations = selectors.integration_list(organization=self.organization)
        return Response({"integrations": s.IntegrationSerializer(integrations, many=True).data})


class IntegrationStatusView(IntegrationView):
    @extend_schema(parameters=KEY_PATH, responses={200: s.IntegrationStatusSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, key):
        """One integration's status: active, expired, revoked or error."""
        integration = self.get_integration(key)
        current = selectors.integration_status(integration)
        return Response({"integration": integration.key, "revoked": current == "revoked", "expired": current == "expired", "status": current})


@non_atomic
class IntegrationRefreshView(IntegrationView):
    @extend_schema(parameters=KEY_PATH, request=None, responses={200: s.RefreshResultSerializer, **ERRORS, **PROVIDER_ERRORS}, tags=TAGS)
    def post(self, request, key):
        """Refresh the access token now through the provider's token endpoint."""
        body_refuse(request)
        integration = self.get_integration(key)
        try:
            integration = services.integration_refresh(integration_id=integration.id, actor=actor_of(request))
        except oauth.ProviderError as error:
            raise services.provider_error_response(error) from None
        except vault.VaultError:
            # A master key missing from INTEGRATIONS_MASTER_KEYS: an operator's fix, not the caller's.
            raise ApplicationError(
                code=ErrorCode.SERVICE_UNAVAILABLE, message="The stored credentials cannot be decrypted right now.", status_code=503
            ) from None
        return Response({"status": "ok", "integration": integration.key, "expires_at": integration.expires_at})


@non_atomic
class IntegrationRevokeView(IntegrationView):
    @extend_schema(parameters=KEY_PATH, request=None, responses={200: s.StatusMessageSerializer, **ERRORS}, tags=TAGS)
    def post(self, request, key):
        """Revoke at the provider when it supports it, then wipe the stored credentials."""
        body_refuse(request)
        integration = self.get_integration(key)
        remote = services.integration_revoke(integration=integration, actor=actor_of(request))
        suffix = " (also at the provider)" if remote else ""
        return Response({"status": "ok", "message": f"{integration.key} revoked{suffix}"})


class IntegrationLogView(IntegrationView):
    @extend_schema(parameters=[s.LogQuerySerializer], responses={200: s.LogListSerializer, **ERRORS}, tags=TAGS, operation_id="integrations_logs")
    def get(self, request):
        """The integration log, newest first: `?integration=gmail&action=REFRESH_FAILED&limit=100`."""
        query = s.LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        logs = selectors.log_list(organization=self.organization, **query.validated_data)
        return Response({"logs": s.LogSerializer(logs, many=True).data})
