"""The platform permission registry: staff (signed in with MFA) register codes for product services.

Registered codes join every organization's permission catalog and can be granted to custom
roles, policies and API key scopes (by someone holding them: owners and admins do by default).
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.staff import staff_power_check
from core.actor import actor_of, principal_of
from core.schema import errors
from core.serializers import body_refuse
from permissions import platform
from permissions.api import platform_serializers as s

TAGS = ["platform permissions"]
ERRORS = errors(400, 401, 403, 404, wording={403: "INSUFFICIENT_PERMISSIONS (staff only; built-in codes are read-only) / MFA_REQUIRED"})
CONFLICT = OpenApiResponse(description="CONFLICT (the code exists; or, on delete, a custom role, policy or API key still names it)")
CODE_PATH = [OpenApiParameter("code", str, OpenApiParameter.PATH, description="Permission code, e.g. `crm:write`")]


class IsStaffWithMfa(BasePermission):
    """Staff signed in as themselves with MFA (API.md v1.1 invariant 8); checked before the body is read."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # 401 for an anonymous caller
        staff_power_check(principal=principal_of(request), action="manage platform permissions")
        return True


def _item(entry: platform.CatalogEntry) -> dict:
    return s.PlatformPermissionSerializer(
        {
            "code": entry.code,
            "resource": entry.resource,
            "action": entry.action,
            "description": entry.description,
            "is_builtin": entry.is_builtin,
            "created_at": entry.created_at,
            "updated_at": entry.updated_at,
        }
    ).data


class PlatformPermissionListCreateView(APIView):
    permission_classes = [IsStaffWithMfa]

    @extend_schema(responses={200: s.PlatformPermissionListSerializer, **ERRORS}, tags=TAGS, operation_id="platform_permissions_list")
    def get(self, request):
        """Every permission code: the apps' declared ones (read-only) and the registered platform ones."""
        return Response({"data": [_item(entry) for entry in platform.platform_permission_list()]})

    @extend_schema(request=s.PlatformPermissionCreateSerializer, responses={201: s.PlatformPermissionSerializer, 409: CONFLICT, **ERRORS}, tags=TAGS)
    def post(self, request):
        """Register a permission code for every organization's catalog."""
        serializer = s.PlatformPermissionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = platform.platform_permission_create(actor=actor_of(request), **serializer.validated_data)
        return Response(_item(platform.platform_permission_get(code=row.code)), status=status.HTTP_201_CREATED)


class PlatformPermissionDetailView(APIView):
    permission_classes = [IsStaffWithMfa]

    @extend_schema(parameters=CODE_PATH, responses={200: s.PlatformPermissionSerializer, **ERRORS}, tags=TAGS, operation_id="platform_permissions_retrieve")
    def get(self, request, code):
        """One permission code."""
        return Response(_item(platform.platform_permission_get(code=code)))

    @extend_schema(parameters=CODE_PATH, request=s.PlatformPermissionUpdateSerializer, responses={200: s.PlatformPermissionSerializer, **ERRORS}, tags=TAGS)
    def patch(self, request, code):
        """Change a registered code's description (built-in codes: 403; the code itself never changes)."""
        serializer = s.PlatformPermissionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = platform.platform_permission_update(actor=actor_of(request), code=code, **serializer.validated_data)
        return Response(_item(platform.platform_permission_get(code=row.code)))

    @extend_schema(parameters=CODE_PATH, responses={204: None, 409: CONFLICT, **ERRORS}, tags=TAGS)
    def delete(self, request, code):
        """Unregister a code nobody names any more (built-in: 403; still in a role, policy or API key: 409)."""
        body_refuse(request)
        platform.platform_permission_delete(actor=actor_of(request), code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)
