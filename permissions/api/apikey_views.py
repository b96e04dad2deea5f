"""Organization API keys: list, issue, show, rotate, revoke and delete. Every route needs `api_keys:manage`.

Issuing and rotating hand out permissions: the caller must hold every scope effectively (no
escalation). Rotating, revoking and deleting act on the key's creator: the caller must hold
every permission the creator holds (not on a better). A key calling these is bounded the same way.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_of
from core.exceptions import validation_error
from core.schema import errors
from core.serializers import body_refuse
from permissions import apikeys, engine
from permissions.api import apikey_serializers as s
from permissions.api.views import FORBIDDEN
from permissions.drf import OrgScopedMixin, decision_inputs, request_facts, require_grantable, require_not_better
from permissions.models import ApiKey
from permissions.permissions import API_KEYS_MANAGE

TAGS = ["api-keys"]
ERRORS = errors(400, 401, 403, 404, wording={403: FORBIDDEN})
ORG_PATH = [OpenApiParameter("org_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Organization id")]
KEY_PATH = ORG_PATH + [OpenApiParameter("key_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="API key id")]


class ApiKeyViewMixin(OrgScopedMixin):
    """Org-scoped key view with the caller's grant and "not on a better" checks, for the services."""

    def effective_permissions(self) -> frozenset[str]:
        """What the caller may do right now: roles minus deny policies, with this request's MFA/IP/time."""
        subject, policies = decision_inputs(self.org_context)
        return frozenset(engine.effective_permissions(subject=subject, policies=policies, facts=request_facts(self.request)))

    def ensure_grantable(self, permissions) -> None:
        require_grantable(self.request, self.org_context, set(permissions))

    def ensure_not_better(self, creator) -> None:
        require_not_better(self.request, self.org_context, target=creator)


class ApiKeyListCreateView(ApiKeyViewMixin, ListAPIView):
    required_permissions = {"GET": API_KEYS_MANAGE, "POST": API_KEYS_MANAGE}
    serializer_class = s.ApiKeySerializer
    queryset = ApiKey.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiKey.objects.none()
        status_filter = self.request.query_params.get("status") or None
        if status_filter is not None and status_filter not in apikeys.STATUSES:
            raise validation_error("status", "Use active, expired or revoked.")
        return apikeys.api_key_list(organization=self.organization, status=status_filter)

    @extend_schema(
        parameters=ORG_PATH + [OpenApiParameter("status", str, description="Only keys of this status: active, expired or revoked.")],
        responses={200: s.ApiKeySerializer(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request, *args, **kwargs):
        """The organization's API keys (prefix, scopes, status, last use); never their secrets."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        parameters=ORG_PATH,
        request=s.ApiKeyCreateSerializer,
        responses={201: s.ApiKeySecretSerializer, 402: OpenApiResponse(description="PLAN_LIMIT_REACHED (max_api_keys)"), **ERRORS},
        tags=TAGS,
    )
    def post(self, request, org_id):
        """Issue a key; its `secret` is in this response only. Scopes default to, and never exceed, mine."""
        serializer = s.ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_of(request)
        api_key, secret = apikeys.api_key_create(
            organization=self.organization,
            name=data["name"],
            # Effective, not role, permissions: a member denied something by a policy cannot mint it.
            grantable=self.effective_permissions(),
            scopes=data.get("scopes"),
            expires_at=data.get("expires_at"),
            ip_allowlist=data.get("ip_allowlist"),
            created_by=actor.acting_for,
            actor=actor,
        )
        body = s.ApiKeySecretSerializer(api_key, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(ApiKeyViewMixin, APIView):
    required_permissions = {"GET": API_KEYS_MANAGE, "DELETE": API_KEYS_MANAGE}

    @extend_schema(parameters=KEY_PATH, responses={200: s.ApiKeySerializer, **ERRORS}, tags=TAGS)
    def get(self, request, org_id, key_id):
        """One API key (never its secret)."""
        return Response(s.ApiKeySerializer(apikeys.api_key_get(organization=self.organization, key_id=key_id)).data)

    @extend_schema(parameters=KEY_PATH, responses={204: None, **ERRORS}, tags=TAGS)
    def delete(self, request, org_id, key_id):
        """Revoke a key at once (it stays listed as revoked; revoking twice is harmless). Not a key of a better."""
        body_refuse(request)
        api_key = apikeys.api_key_get(organization=self.organization, key_id=key_id)
        apikeys.api_key_revoke(api_key=api_key, ensure_not_better=self.ensure_not_better, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyRotateView(ApiKeyViewMixin, APIView):
    required_permissions = {"POST": API_KEYS_MANAGE}

    @extend_schema(
        parameters=KEY_PATH,
        request=None,
        responses={200: s.ApiKeySecretSerializer, 409: OpenApiResponse(description="CONFLICT (key revoked or expired)"), **ERRORS},
        tags=TAGS,
    )
    def post(self, request, org_id, key_id):
        """New secret, shown once; the old one keeps working until `previous_valid_until` (grace, default 24 h).

        Only for a caller who holds every scope of the key and every permission of its creator (403).
        """
        body_refuse(request)
        api_key = apikeys.api_key_get(organization=self.organization, key_id=key_id)
        actor = actor_of(request)
        api_key, secret = apikeys.api_key_rotate(
            api_key=api_key,
            ensure_grantable=self.ensure_grantable,
            ensure_not_better=self.ensure_not_better,
            holder=actor.acting_for,
            actor=actor,
        )
        return Response(s.ApiKeySecretSerializer(api_key, context={"secret": secret}).data)


class ApiKeyPermanentDeleteView(ApiKeyViewMixin, APIView):
    required_permissions = {"DELETE": API_KEYS_MANAGE}

    @extend_schema(parameters=KEY_PATH, responses={204: None, **ERRORS}, tags=TAGS)
    def delete(self, request, org_id, key_id):
        """Delete a key for good (revoked or not). Not a key of a better."""
        body_refuse(request)
        api_key = apikeys.api_key_get(organization=self.organization, key_id=key_id)
        apikeys.api_key_delete(api_key=api_key, ensure_not_better=self.ensure_not_better, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
