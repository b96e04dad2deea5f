"""Organization API keys: list, issue, show, rotate, revoke and delete. Every route needs `api_keys:manage`."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import validation_error
from core.schema import errors
from permissions import apikeys
from permissions.api import apikey_serializers as s
from permissions.api.views import FORBIDDEN
from permissions.authentication import acting_user, audit_actor
from permissions.drf import OrgScopedMixin, subject_of
from permissions.models import ApiKey
from permissions.permissions import API_KEYS_MANAGE

TAGS = ["api-keys"]
ERRORS = errors(400, 401, 403, 404, wording={403: FORBIDDEN})
ORG_PATH = [OpenApiParameter("org_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Organization id")]
KEY_PATH = ORG_PATH + [OpenApiParameter("key_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="API key id")]


class ApiKeyListCreateView(OrgScopedMixin, ListAPIView):
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
        api_key, secret = apikeys.api_key_create(
            organization=self.organization,
            name=data["name"],
            grantable=subject_of(self.org_context).permissions,
            scopes=data.get("scopes"),
            expires_at=data.get("expires_at"),
            ip_allowlist=data.get("ip_allowlist"),
            created_by=acting_user(request),
            request=request,
            **audit_actor(request),
        )
        body = s.ApiKeySecretSerializer(api_key, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(OrgScopedMixin, APIView):
    required_permissions = {"GET": API_KEYS_MANAGE, "DELETE": API_KEYS_MANAGE}

    @extend_schema(parameters=KEY_PATH, responses={200: s.ApiKeySerializer, **ERRORS}, tags=TAGS)
    def get(self, request, org_id, key_id):
        """One API key (never its secret)."""
        return Response(s.ApiKeySerializer(apikeys.api_key_get(organization=self.organization, key_id=key_id)).data)

    @extend_schema(parameters=KEY_PATH, responses={204: None, **ERRORS}, tags=TAGS)
    def delete(self, request, org_id, key_id):
        """Revoke a key at once (it stays listed as revoked; revoking twice is harmless)."""
        api_key = apikeys.api_key_get(organization=self.organization, key_id=key_id)
        apikeys.api_key_revoke(api_key=api_key, request=request, **audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyRotateView(OrgScopedMixin, APIView):
    required_permissions = {"POST": API_KEYS_MANAGE}

    @extend_schema(
        parameters=KEY_PATH,
        request=None,
        responses={200: s.ApiKeySecretSerializer, 409: OpenApiResponse(description="CONFLICT (key revoked or expired)"), **ERRORS},
        tags=TAGS,
    )
    def post(self, request, org_id, key_id):
        """New secret, shown once; the old one keeps working until `previous_valid_until` (grace, default 24 h)."""
        api_key = apikeys.api_key_get(organization=self.organization, key_id=key_id)
        api_key, secret = apikeys.api_key_rotate(api_key=api_key, request=request, **audit_actor(request))
        return Response(s.ApiKeySecretSerializer(api_key, context={"secret": secret}).data)


class ApiKeyPermanentDeleteView(OrgScopedMixin, APIView):
    required_permissions = {"DELETE": API_KEYS_MANAGE}

    @extend_schema(parameters=KEY_PATH, responses={204: None, **ERRORS}, tags=TAGS)
    def delete(self, request, org_id, key_id):
        """Delete a key for good (revoked or not)."""
        api_key = apikeys.api_key_get(organization=self.organization, key_id=key_id)
        apikeys.api_key_delete(api_key=api_key, request=request, **audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
