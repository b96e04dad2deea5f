"""SCIM tokens of an organization: list, issue (secret shown once), show, rotate, revoke.

Every route needs `org:update` and the plan feature `sso` (402 otherwise). Issuing, rotating and
revoking are for a signed-in member in person (the token acts with its holder's permissions: an
API key or an impersonator would hand out more than they hold); rotating and revoking someone
else's token acts on them (not on a better).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core import entitlements
from core.actor import actor_of
from core.schema import errors
from core.serializers import body_refuse
from organizations.permissions import ORG_UPDATE
from permissions.drf import HasOrgPermission, OrgScopedMixin, require_not_better
from scim import tokens
from scim.api import serializers as s
from scim.models import ScimToken

TAGS = ["scim"]
FEATURE = "sso"
ERRORS = errors(400, 401, 403, 404)
UPGRADE = {402: OpenApiResponse(description="PLAN_UPGRADE_REQUIRED (the org's plan lacks `sso`)")}
ORG_PATH = [OpenApiParameter("org_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Organization id")]
TOKEN_PATH = ORG_PATH + [OpenApiParameter("token_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="SCIM token id")]


class HasSsoFeature(BasePermission):
    """After the org permission: 402 PLAN_UPGRADE_REQUIRED unless the org's plan has `sso`."""

    def has_permission(self, request, view) -> bool:
        entitlements.require_feature(view.organization, FEATURE)
        return True


class ScimTokenViewMixin(OrgScopedMixin):
    # Who may ask comes first (401/403/404), then whether the plan offers it (402).
    permission_classes = [HasOrgPermission, HasSsoFeature]

    def ensure_not_better(self, creator) -> None:
        require_not_better(self.request, self.org_context, target=creator)


class ScimTokenListCreateView(ScimTokenViewMixin, ListAPIView):
    required_permissions = {"GET": ORG_UPDATE, "POST": ORG_UPDATE}
    serializer_class = s.ScimTokenSerializer
    queryset = ScimToken.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ScimToken.objects.none()
        return tokens.token_list(organization=self.organization)

    @extend_schema(parameters=ORG_PATH, responses={200: s.ScimTokenSerializer(many=True), **UPGRADE, **ERRORS}, tags=TAGS)
    def get(self, request, *args, **kwargs):
        """The organization's SCIM tokens (prefix, holder, status, last use); never their secrets."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        parameters=ORG_PATH,
        request=s.ScimTokenCreateSerializer,
        responses={201: s.ScimTokenSecretSerializer, **UPGRADE, 409: OpenApiResponse(description="CONFLICT (too many active tokens)"), **ERRORS},
        tags=TAGS,
    )
    def post(self, request, org_id):
        """Issue a token for the IdP; its `secret` is in this response only. It acts with my permissions in the org."""
        serializer = s.ScimTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = tokens.token_create(organization=self.organization, name=serializer.validated_data["name"], actor=actor_of(request))
        body = s.ScimTokenSecretSerializer(issued.token, context={"secret": issued.secret, "request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ScimTokenDetailView(ScimTokenViewMixin, APIView):
    required_permissions = {"GET": ORG_UPDATE, "DELETE": ORG_UPDATE}

    @extend_schema(parameters=TOKEN_PATH, responses={200: s.ScimTokenSerializer, **UPGRADE, **ERRORS}, tags=TAGS)
    def get(self, request, org_id, token_id):
        """One SCIM token (never its secret)."""
        token = tokens.token_get(organization=self.organization, token_id=token_id)
        return Response(s.ScimTokenSerializer(token, context={"request": request}).data)

    @extend_schema(parameters=TOKEN_PATH, responses={204: None, **UPGRADE, **ERRORS}, tags=TAGS)
    def delete(self, request, org_id, token_id):
        """Revoke a token at once (it stays listed as revoked; revoking twice is harmless)."""
        body_refuse(request)
        token = tokens.token_get(organization=self.organization, token_id=token_id)
        tokens.token_revoke(token=token, actor=actor_of(request), ensure_not_better=self.ensure_not_better)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScimTokenRotateView(ScimTokenViewMixin, APIView):
    required_permissions = {"POST": ORG_UPDATE}

    @extend_schema(
        parameters=TOKEN_PATH,
        request=None,
        responses={200: s.ScimTokenSecretSerializer, **UPGRADE, 409: OpenApiResponse(description="CONFLICT (token revoked)"), **ERRORS},
        tags=TAGS,
    )
    def post(self, request, org_id, token_id):
        """New secret, shown once; the old one stops at once and the token then acts for me."""
        body_refuse(request)
        token = tokens.token_get(organization=self.organization, token_id=token_id)
        issued = tokens.token_rotate(token=token, actor=actor_of(request), ensure_not_better=self.ensure_not_better)
        return Response(s.ScimTokenSecretSerializer(issued.token, context={"secret": issued.secret, "request": request}).data)
