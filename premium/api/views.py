"""Premium API: a route every member may call, and the plan-gated analytics and white label (org context from X-Org-ID or the token)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core import entitlements
from core.actor import actor_of
from core.authz import MEMBERSHIP
from core.schema import errors
from permissions.drf import HasOrgPermission, OrgScopedMixin
from premium import permissions as perms
from premium import selectors, services
from premium.api import serializers as s

TAGS = ["premium"]
ERRORS = errors(403, 404)
UPGRADE = {402: OpenApiResponse(description="PLAN_UPGRADE_REQUIRED (the org's plan lacks the feature)")}


class HasPlanFeature(BasePermission):
    """After the org permission: 402 PLAN_UPGRADE_REQUIRED unless the org's plan has the view's `required_feature`."""

    def has_permission(self, request, view) -> bool:
        entitlements.require_feature(view.organization, view.required_feature)
        return True


class PremiumScoped(OrgScopedMixin):
    """A premium route: org context, the declared permission, then (when set) the plan feature."""

    required_feature: str | None = None

    def get_permissions(self):
        checks = [HasOrgPermission()]
        if self.required_feature is not None:
            # Who may ask comes first (401/403/404), then whether the plan offers it (402).
            checks.append(HasPlanFeature())
        return checks


class FreeFeatureView(PremiumScoped, APIView):
    required_permissions = {"GET": MEMBERSHIP}

    @extend_schema(summary="A feature of every plan", responses={200: s.FreeFeatureSerializer, **ERRORS}, tags=TAGS)
    def get(self, request):
        """Available to any active member of the org on any plan: tells the org's plan and which premium features it includes."""
        return Response(s.FreeFeatureSerializer(selectors.free_feature(organization=self.organization)).data)


class AnalyticsView(PremiumScoped, APIView):
    required_permissions = {"GET": perms.ANALYTICS_READ}
    required_feature = perms.ADVANCED_ANALYTICS

    @extend_schema(
        summary="The org's analytics",
        parameters=[s.AnalyticsQuerySerializer],
        responses={200: s.AnalyticsSerializer, **UPGRADE, **errors(400), **ERRORS},
        tags=TAGS,
    )
    def get(self, request):
        """The org's members, invitations, API keys, audit events per day, AI requests, storage and integrations over `days` (`advanced_analytics`)."""
        query = s.AnalyticsQuerySerializer(data={"days": request.query_params["days"]} if "days" in request.query_params else {})
        query.is_valid(raise_exception=True)
        figures = selectors.organization_analytics(organization=self.organization, days=query.validated_data["days"])
        return Response(s.AnalyticsSerializer(figures).data)


class WhiteLabelView(PremiumScoped, APIView):
    required_permissions = {"GET": perms.WHITE_LABEL_READ, "PUT": perms.WHITE_LABEL_UPDATE}
    required_feature = perms.WHITE_LABEL

    @extend_schema(summary="The org's white label", responses={200: s.WhiteLabelSerializer, **UPGRADE, **ERRORS}, tags=TAGS)
    def get(self, request):
        """Company name, logo, colour and e-mail sender name the org's e-mails use (plan feature `white_label`)."""
        return Response(s.WhiteLabelSerializer(selectors.white_label_get(organization=self.organization)).data)

    @extend_schema(
        summary="Replace the org's white label",
        request=s.WhiteLabelSerializer,
        responses={200: s.WhiteLabelSerializer, **UPGRADE, **errors(400), **ERRORS},
        tags=TAGS,
    )
    def put(self, request):
        """Replace the white label (an absent, null or empty value removes it); audited as `org.settings_updated`."""
        serializer = s.WhiteLabelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = services.white_label_update(organization=self.organization, actor=actor_of(request), values=serializer.validated_data)
        return Response(s.WhiteLabelSerializer(values).data)
