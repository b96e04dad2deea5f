"""Permission catalog, roles, role assignments, effective permissions, checks and policies of an org.

Declared permissions: the catalog, `me/permissions` and the checks need only membership
(checking another member also needs `members:read`); reading roles, assignments and a
member's permissions needs `members:read` (who may do what is part of the member
directory); policies (security configuration: IP ranges, MFA rules) and every write need
`roles:manage`. Writes also refuse to grant, revoke or condition permissions the caller
does not hold right now (no escalation), and to take from or deny a member who holds what the
caller does not (not on a better); the owner may always change or delete any policy.
"""

import uuid

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import Actor, actor_of
from core.exceptions import validation_error
from core.schema import errors
from core.serializers import body_refuse
from organizations import permissions as org_perms
from permissions import selectors, services
from permissions.api import serializers as s
from permissions.drf import (
    OrgScopedMixin,
    PermissionDeniedWithCode,
    authorize,
    request_decision_inputs,
    request_facts,
    require_grantable,
    require_not_better_than,
    require_policy_edit,
)
from permissions.engine import MEMBERSHIP
from permissions.models import Policy, Role, RoleAssignment
from permissions.permissions import ROLES_MANAGE

TAG = "permissions"
# An org policy may ask for MFA before granting a permission (permissions.engine).
FORBIDDEN = "INSUFFICIENT_PERMISSIONS / INVALID_ORG_CONTEXT / MFA_REQUIRED (policy)"
ERRORS = errors(400, 403, 404, wording={403: FORBIDDEN})
CONFLICT = OpenApiResponse(description="CONFLICT")
ORG_PATH = [OpenApiParameter("org_id", str, OpenApiParameter.PATH, description="Organization id (UUID)")]


class PermissionsViewMixin(OrgScopedMixin):
    """Org-scoped view with the helpers every permissions endpoint needs."""

    @property
    def actor(self) -> Actor:
        """Who acts (the signed-in user or the API key), and from where."""
        return actor_of(self.request)

    def ensure_grantable(self, permissions) -> None:
        require_grantable(self.request, self.org_context, set(permissions))

    def ensure_not_better(self, targets) -> None:
        require_not_better_than(self.request, self.org_context, targets=targets)

    def ensure_policy_edit(self, permissions) -> None:
        require_policy_edit(self.request, self.org_context, permissions=set(permissions))

    def ensure_policy_targets(self, targets) -> None:
        require_policy_edit(self.request, self.org_context, targets=targets)

    def evaluation(self, *, user_id=None, at_least_revision=None) -> selectors.Evaluation:
        context = self.org_context
        if user_id is not None and str(user_id) != str(context.user_id):
            # Looking at someone else's permissions is reading the member directory.
            decision = authorize(self.request, context, org_perms.MEMBERS_READ)
            if not decision.allowed:
                raise PermissionDeniedWithCode(decision)
        return selectors.evaluation_prepare(
            context=context,
            facts=request_facts(self.request),
            user_id=user_id,
            at_least_revision=at_least_revision,
            inputs=request_decision_inputs(self.request, context),
        )


# --- catalog, effective permissions, checks -------------------------------------------------


class PermissionCatalogView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": MEMBERSHIP}

    @extend_schema(parameters=ORG_PATH, responses={200: s.PermissionCatalogSerializer, **ERRORS}, tags=[TAG])
    def get(self, request, org_id):
        """Every permission code the API knows, with its resource, action and description (any member)."""
        return Response({"data": selectors.permission_catalog()})


class MyPermissionsView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": MEMBERSHIP}

    @extend_schema(parameters=ORG_PATH, responses={200: s.EffectivePermissionsSerializer, **ERRORS}, tags=[TAG])
    def get(self, request, org_id):
        """My effective permissions in this org, judged with this request's MFA, IP and time."""
        return Response(selectors.effective_permissions(evaluation=self.evaluation()))


class MemberPermissionsView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": org_perms.MEMBERS_READ}

    @extend_schema(
        parameters=ORG_PATH,
        responses={200: s.EffectivePermissionsSerializer, **ERRORS},
        tags=[TAG],
        description=(
            "A member's effective permissions (needs `members:read`). Judged with their roles and this "
            "request's IP and time; MFA counts as not met unless the member is you. A suspended member holds none."
        ),
    )
    def get(self, request, org_id, user_id):
        """A member's effective permissions."""
        return Response(selectors.effective_permissions(evaluation=self.evaluation(user_id=user_id)))


class PermissionCheckView(PermissionsViewMixin, APIView):
    required_permissions = {"POST": MEMBERSHIP}

    @extend_schema(
        parameters=ORG_PATH,
        request=s.CheckSerializer,
        responses={200: s.CheckResultSerializer, **ERRORS},
        tags=[TAG],
        description=(
            "Answer exactly what the views enforce for one permission. With `user_id` (needs `members:read`), "
            "another member is judged with their roles and this request's IP and time, but MFA counts as not met."
        ),
    )
    def post(self, request, org_id):
        """May I (or a member) use this permission here and now?"""
        serializer = s.CheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        decision = selectors.decision(evaluation=self.evaluation(user_id=data.get("user_id")), permission=data["permission"])
        return Response({"allowed": decision.allowed, "reason": decision.reason})


class PermissionCheckManyView(PermissionsViewMixin, APIView):
    required_permissions = {"POST": MEMBERSHIP}

    @extend_schema(
        parameters=ORG_PATH,
        request=s.CheckManySerializer,
        responses={200: s.CheckManyResultSerializer, **ERRORS},
        tags=[TAG],
        description=(
            "Answer up to 100 permissions at once, with the authorization revision the answers reflect. "
            "`at_least_revision` newer than the cached one forces a fresh answer. With `user_id` (needs "
            "`members:read`), another member is judged with their roles and this request's IP and time, "
            "but MFA counts as not met."
        ),
    )
    def post(self, request, org_id):
        """May I (or a member) use each of these permissions here and now?"""
        serializer = s.CheckManySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        evaluation = self.evaluation(user_id=data.get("user_id"), at_least_revision=data.get("at_least_revision"))
        results = selectors.decisions(evaluation=evaluation, permissions=data["permissions"])
        return Response({"results": results, "revision": evaluation.revision})


# --- roles ----------------------------------------------------------------------------------


class RoleListCreateView(PermissionsViewMixin, ListAPIView):
    required_permissions = {"GET": org_perms.MEMBERS_READ, "POST": ROLES_MANAGE}
    serializer_class = s.RoleSerializer
    queryset = Role.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Role.objects.none()
        services.roles_builtin_ensure(organization=self.organization)
        return selectors.role_list(organization=self.organization)

    @extend_schema(parameters=ORG_PATH, tags=[TAG])
    def get(self, request, *args, **kwargs):
        """Built-in roles (owner, admin, member, viewer; read-only) and custom roles."""
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=ORG_PATH, request=s.RoleCreateSerializer, responses={201: s.RoleSerializer, 409: CONFLICT, **ERRORS}, tags=[TAG])
    def post(self, request, org_id):
        """Create a custom role (only with permissions you hold)."""
        serializer = s.RoleCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = services.role_create(organization=self.organization, actor=self.actor, ensure_grantable=self.ensure_grantable, **serializer.validated_data)
        return Response(s.RoleSerializer(role).data, status=status.HTTP_201_CREATED)


class RoleUsageCountsView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": org_perms.MEMBERS_READ}

    @extend_schema(parameters=ORG_PATH, responses={200: s.RoleUsageListSerializer, **ERRORS}, tags=[TAG])
    def get(self, request, org_id):
        """Per role: how many members hold it as base role, and how many extra assignments of it exist."""
        services.roles_builtin_ensure(organization=self.organization)
        return Response({"data": selectors.role_usage_counts(organization=self.organization)})


class MemberRolesView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": org_perms.MEMBERS_READ}

    @extend_schema(parameters=ORG_PATH, responses={200: s.MemberRoleListSerializer, **ERRORS}, tags=[TAG])
    def get(self, request, org_id, user_id):
        """A member's roles: the base role and the extra roles assigned on top."""
        services.roles_builtin_ensure(organization=self.organization)
        return Response({"data": selectors.member_roles(organization=self.organization, user_id=user_id)})


class RoleDetailView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": org_perms.MEMBERS_READ, "PATCH": ROLES_MANAGE, "PUT": ROLES_MANAGE, "DELETE": ROLES_MANAGE}

    def _role(self, role_id) -> Role:
        return selectors.role_get(organization=self.organization, role_id=role_id)

    @extend_schema(parameters=ORG_PATH, responses={200: s.RoleSerializer, **ERRORS}, tags=[TAG])
    def get(self, request, org_id, role_id):
        """One role with its permissions."""
        return Response(s.RoleSerializer(self._role(role_id)).data)

    @extend_schema(parameters=ORG_PATH, request=s.RoleUpdateSerializer, responses={200: s.RoleSerializer, **ERRORS}, tags=[TAG])
    def patch(self, request, org_id, role_id):
        """Change a custom role's name, description or permissions (built-in roles: 403)."""
        role = self._role(role_id)  # first: another org's id is 404 whatever the body
        serializer = s.RoleUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = services.role_update(role=role, actor=self.actor, data=serializer.validated_data, ensure_grantable=self.ensure_grantable)
        return Response(s.RoleSerializer(role).data)

    @extend_schema(parameters=ORG_PATH, request=s.RoleUpdateSerializer, responses={200: s.RoleSerializer, **ERRORS}, tags=[TAG])
    def put(self, request, org_id, role_id):
        """Change a custom role (same body as PATCH)."""
        return self.patch(request, org_id, role_id)

    @extend_schema(parameters=ORG_PATH, responses={204: None, 409: CONFLICT, **ERRORS}, tags=[TAG])
    def delete(self, request, org_id, role_id):
        """Delete a custom role nobody uses (in use: 409; built-in: 403)."""
        body_refuse(request)
        services.role_delete(role=self._role(role_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RolePermissionsView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": org_perms.MEMBERS_READ, "PUT": ROLES_MANAGE}

    @extend_schema(parameters=ORG_PATH, responses={200: s.PermissionCodesSerializer, **ERRORS}, tags=[TAG])
    def get(self, request, org_id, role_id):
        """The permissions a role grants."""
        role = selectors.role_get(organization=self.organization, role_id=role_id)
        return Response({"data": sorted(services.role_grants(role))})

    @extend_schema(parameters=ORG_PATH, request=s.PermissionsBodySerializer, responses={200: s.PermissionCodesSerializer, **ERRORS}, tags=[TAG])
    def put(self, request, org_id, role_id):
        """Replace a custom role's permissions (built-in roles: 403; only permissions you hold)."""
        role = selectors.role_get(organization=self.organization, role_id=role_id)
        serializer = s.PermissionsBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = services.role_permissions_set(
            role=role,
            actor=self.actor,
            permissions=serializer.validated_data["permissions"],
            ensure_grantable=self.ensure_grantable,
        )
        return Response({"data": sorted(services.role_grants(role))})


# --- role assignments -----------------------------------------------------------------------


class RoleAssignmentListCreateView(PermissionsViewMixin, ListAPIView):
    required_permissions = {"GET": org_perms.MEMBERS_READ, "POST": ROLES_MANAGE, "DELETE": ROLES_MANAGE}
    serializer_class = s.RoleAssignmentSerializer
    queryset = RoleAssignment.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RoleAssignment.objects.none()
        user_id = self.request.query_params.get("user_id") or None
        if user_id is not None:
            try:
                user_id = uuid.UUID(user_id)
            except ValueError:
                raise validation_error("user_id", "Must be a valid UUID.") from None
        return selectors.role_assignment_list(organization=self.organization, user_id=user_id)

    @extend_schema(parameters=ORG_PATH + [OpenApiParameter("user_id", str, description="Only this member's extra roles (UUID)")], tags=[TAG])
    def get(self, request, *args, **kwargs):
        """Extra roles given to members on top of their base role."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        parameters=ORG_PATH, request=s.RoleAssignmentBodySerializer, responses={201: s.RoleAssignmentSerializer, 409: CONFLICT, **ERRORS}, tags=[TAG]
    )
    def post(self, request, org_id):
        """Give an active member an extra role (not owner; only a role whose permissions you hold)."""
        serializer = s.RoleAssignmentBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = services.role_assignment_create(
            organization=self.organization,
            actor=self.actor,
            ensure_grantable=self.ensure_grantable,
            ensure_not_better=self.ensure_not_better,
            **serializer.validated_data,
        )
        return Response(s.RoleAssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="orgs_role_assignments_destroy_by_body",
        parameters=ORG_PATH,
        request=s.RoleAssignmentBodySerializer,
        responses={204: None, **ERRORS},
        tags=[TAG],
    )
    def delete(self, request, org_id):
        """Take an extra role away, named by `{user_id, role_id}`."""
        serializer = s.RoleAssignmentBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = selectors.role_assignment_find(organization=self.organization, **serializer.validated_data)
        services.role_assignment_delete(
            assignment=assignment, actor=self.actor, ensure_grantable=self.ensure_grantable, ensure_not_better=self.ensure_not_better
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoleAssignmentDetailView(PermissionsViewMixin, APIView):
    required_permissions = {"DELETE": ROLES_MANAGE}

    @extend_schema(parameters=ORG_PATH, responses={204: None, **ERRORS}, tags=[TAG])
    def delete(self, request, org_id, assignment_id):
        """Take an extra role away."""
        body_refuse(request)
        assignment = selectors.role_assignment_get(organization=self.organization, assignment_id=assignment_id)
        services.role_assignment_delete(
            assignment=assignment, actor=self.actor, ensure_grantable=self.ensure_grantable, ensure_not_better=self.ensure_not_better
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- policies -------------------------------------------------------------------------------


class PolicyListCreateView(PermissionsViewMixin, ListAPIView):
    required_permissions = {"GET": ROLES_MANAGE, "POST": ROLES_MANAGE}
    serializer_class = s.PolicySerializer
    queryset = Policy.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Policy.objects.none()
        return selectors.policy_list(organization=self.organization)

    @extend_schema(parameters=ORG_PATH, tags=[TAG])
    def get(self, request, *args, **kwargs):
        """Conditional allow/deny policies on top of roles (deny wins)."""
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=ORG_PATH, request=s.PolicyCreateSerializer, responses={201: s.PolicySerializer, **ERRORS}, tags=[TAG])
    def post(self, request, org_id):
        """Create a policy (only about permissions you hold)."""
        serializer = s.PolicyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = services.policy_create(
            organization=self.organization,
            actor=self.actor,
            ensure_grantable=self.ensure_grantable,
            ensure_not_better=self.ensure_not_better,
            **serializer.validated_data,
        )
        return Response(s.PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyDetailView(PermissionsViewMixin, APIView):
    required_permissions = {"GET": ROLES_MANAGE, "PATCH": ROLES_MANAGE, "DELETE": ROLES_MANAGE}

    def _policy(self, policy_id) -> Policy:
        return selectors.policy_get(organization=self.organization, policy_id=policy_id)

    @extend_schema(parameters=ORG_PATH, responses={200: s.PolicySerializer, **ERRORS}, tags=[TAG])
    def get(self, request, org_id, policy_id):
        """One policy."""
        return Response(s.PolicySerializer(self._policy(policy_id)).data)

    @extend_schema(parameters=ORG_PATH, request=s.PolicyUpdateSerializer, responses={200: s.PolicySerializer, **ERRORS}, tags=[TAG])
    def patch(self, request, org_id, policy_id):
        """Change a policy (`subjects`/`conditions` replace the old ones whole; the owner always may)."""
        policy = self._policy(policy_id)  # first: another org's id is 404 whatever the body
        serializer = s.PolicyUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = services.policy_update(
            policy=policy,
            actor=self.actor,
            data=serializer.validated_data,
            ensure_grantable=self.ensure_policy_edit,
            ensure_not_better=self.ensure_policy_targets,
        )
        return Response(s.PolicySerializer(policy).data)

    @extend_schema(parameters=ORG_PATH, responses={204: None, **ERRORS}, tags=[TAG])
    def delete(self, request, org_id, policy_id):
        """Delete a policy (lifting a deny needs the permissions it covers; the owner always may)."""
        body_refuse(request)
        services.policy_delete(policy=self._policy(policy_id), actor=self.actor, ensure_grantable=self.ensure_policy_edit)
        return Response(status=status.HTTP_204_NO_CONTENT)
