"""The internal service API: thin views over internal.selectors and internal.services.

Every view here accepts only a signed service request (internal.authentication); no user token
or API key gets in. Answers use the public API's shapes and error envelope.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import CheckLimitResponseSerializer
from core.actor import actor_of
from core.schema import errors
from internal import selectors, services
from internal.api import serializers as s
from internal.authentication import IsInternalService, ServiceRateThrottle, ServiceSignatureAuthentication
from organizations.api.serializers import MemberSerializer
from permissions.api.serializers import CheckManyResultSerializer, CheckResultSerializer

TAG = ["internal"]
_WORDING = {
    401: "AUTHENTICATION_FAILED: missing, malformed, stale, replayed or wrong service signature",
    404: "ORG_NOT_FOUND / NOT_FOUND",
    503: "SERVICE_UNAVAILABLE: the replay cache is unreachable (fail closed; retry)",
}
ERRORS = errors(401, 503, wording=_WORDING)
ORG_ERRORS = errors(401, 404, 503, wording=_WORDING)
BODY_ERRORS = errors(400, 401, 404, 503, wording=_WORDING)
ORG_ID = OpenApiParameter("org_id", str, OpenApiParameter.PATH, description="Organization id (UUID)")
USER_ID = OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="User id (UUID)")


class InternalView(APIView):
    """A route of /internal/v1/: signed service requests only, throttled per service."""

    authentication_classes = [ServiceSignatureAuthentication]
    permission_classes = [IsInternalService]
    throttle_classes = [ServiceRateThrottle]
    throttle_scope = "internal"


class ValidateTokenView(InternalView):
    @extend_schema(
        summary="Introspect an access token",
        request=s.InternalValidateTokenSerializer,
        responses={200: s.InternalTokenIntrospectionSerializer, **errors(400, 401, 503, wording=_WORDING)},
        tags=TAG,
        description="RFC 7662 style. The same checks as a bearer request (signature, expiry, live session, active user); "
        "anything invalid answers 200 `{active: false}`.",
    )
    def post(self, request):
        """Tell whether an access token is valid right now, with its claims."""
        serializer = s.InternalValidateTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(selectors.token_introspect(token=serializer.validated_data["token"]))


class UserDetailView(InternalView):
    @extend_schema(summary="Get a user", parameters=[USER_ID], responses={200: s.InternalUserSerializer, **ORG_ERRORS}, tags=TAG)
    def get(self, request, user_id):
        """An active user by id."""
        return Response(s.InternalUserSerializer(selectors.user_get(user_id=user_id)).data)


class OrganizationDetailView(InternalView):
    @extend_schema(summary="Get an organization", parameters=[ORG_ID], responses={200: s.InternalOrganizationSummarySerializer, **ORG_ERRORS}, tags=TAG)
    def get(self, request, org_id):
        """An organization with its plan and feature flags."""
        organization = selectors.organization_get(organization_id=org_id)
        return Response(s.InternalOrganizationSummarySerializer(selectors.organization_summary(organization=organization)).data)


class MemberDetailView(InternalView):
    @extend_schema(summary="Get a member", parameters=[ORG_ID, USER_ID], responses={200: MemberSerializer, **ORG_ERRORS}, tags=TAG)
    def get(self, request, org_id, user_id):
        """A member of the organization (any status: check `status`), or 404."""
        organization = selectors.organization_get(organization_id=org_id)
        return Response(MemberSerializer(selectors.member_get(organization=organization, user_id=user_id)).data)


class PermissionCheckView(InternalView):
    @extend_schema(
        summary="Check a member's permission",
        request=s.InternalCheckSerializer,
        responses={200: CheckResultSerializer, **BODY_ERRORS},
        tags=TAG,
        description="As `orgs/{org_id}/permissions/check` with `user_id`: the member's roles, assignments and policies; "
        "MFA counts as not met and there is no client IP.",
    )
    def post(self, request):
        """May this member use this permission in this org now?"""
        serializer = s.InternalCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = selectors.organization_get(organization_id=data["org_id"])
        return Response(selectors.permission_check(organization=organization, user_id=data["user_id"], permission=data["permission"]))


class PermissionCheckManyView(InternalView):
    @extend_schema(
        summary="Check many permissions of a member",
        request=s.InternalCheckManySerializer,
        responses={200: CheckManyResultSerializer, **BODY_ERRORS},
        tags=TAG,
        description="As `orgs/{org_id}/permissions/check-many` with `user_id`.",
    )
    def post(self, request):
        """May this member use each of these permissions in this org now?"""
        serializer = s.InternalCheckManySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = selectors.organization_get(organization_id=data["org_id"])
        return Response(
            selectors.permission_check_many(
                organization=organization, user_id=data["user_id"], permissions=data["permissions"], at_least_revision=data.get("at_least_revision")
            )
        )


class CheckLimitView(InternalView):
    @extend_schema(
        summary="Check an organization's plan limit",
        parameters=[ORG_ID],
        request=s.InternalCheckLimitSerializer,
        responses={200: CheckLimitResponseSerializer, **BODY_ERRORS},
        tags=TAG,
    )
    def post(self, request, org_id):
        """Whether one more of a usage key fits the org's plan."""
        organization = selectors.organization_get(organization_id=org_id)
        serializer = s.InternalCheckLimitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(selectors.limit_check(organization=organization, feature=serializer.validated_data["feature"]))


class UsageView(InternalView):
    @extend_schema(
        summary="Report metered usage",
        parameters=[ORG_ID],
        request=s.InternalUsageReportSerializer,
        responses={
            200: s.InternalUsageStateSerializer,
            402: OpenApiResponse(description="PLAN_LIMIT_REACHED: the plan's monthly allowance is used up (nothing counted)"),
            409: OpenApiResponse(description="CONFLICT: this idempotency_key was used for a different report"),
            **BODY_ERRORS,
        },
        tags=TAG,
        description="Counts against the plan like the AI requests do. The same `idempotency_key` again counts once and answers the current state.",
    )
    def post(self, request, org_id):
        """Count metered usage of a service against the org's plan, once per idempotency key."""
        organization = selectors.organization_get(organization_id=org_id)
        serializer = s.InternalUsageReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        state = services.usage_record(actor=actor_of(request), organization=organization, **serializer.validated_data)
        return Response(s.InternalUsageStateSerializer(state).data)


class PlanFeaturesView(InternalView):
    @extend_schema(
        summary="Get a plan's limits and features",
        parameters=[OpenApiParameter("code", str, OpenApiParameter.PATH, description="Plan code, e.g. `pro`")],
        responses={200: s.InternalPlanFeaturesSerializer, **ORG_ERRORS},
        tags=TAG,
    )
    def get(self, request, code):
        """A public plan's limits and feature flags."""
        return Response(s.InternalPlanFeaturesSerializer(selectors.plan_features(code=code)).data)
