"""Organizations, members, ownership, per-org profile; setup-organization and switch-org."""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import AuthResponseSerializer
from accounts.api.views import auth_body, session_id_of
from accounts.models import UserSession
from accounts.sessions import session_switch_organization
from core.actor import actor_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from core.pagination import CompiledFirstPageMixin, CompiledList
from core.roles import Role
from core.schema import errors
from core.serializers import body_refuse
from organizations import permissions as perms
from organizations import selectors, services
from organizations.api import serializers as s
from organizations.models import Membership, Organization
from permissions.drf import OrgScopedMixin, require_not_better, require_role_grantable
from permissions.engine import MEMBERSHIP

ERRORS = errors(400, 403, 404)
ORG_PATH = [OpenApiParameter("org_id", str, OpenApiParameter.PATH, description="Organization id (UUID)")]


class OrganizationListCreateView(ListAPIView):
    """Organizations I belong to (with my role); create one (I become its owner)."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.OrganizationSerializer
    queryset = Membership.objects.none()

    def get_queryset(self):
        return selectors.organization_list_for_user(user=self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        organizations = []
        for membership in page:
            membership.organization.my_role = membership.role
            organizations.append(membership.organization)
        return self.get_paginated_response(s.OrganizationSerializer(organizations, many=True).data)

    @extend_schema(tags=["organizations"])
    def get(self, request, *args, **kwargs):
        """List the organizations I am an active member of."""
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.OrganizationCreateSerializer, responses={201: s.OrganizationSerializer, 409: ERRORS[400], **ERRORS}, tags=["organizations"])
    def post(self, request):
        """Create an organization; I become its owner."""
        serializer = s.OrganizationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = services.organization_create(
            user=request.user,
            name=data["name"],
            slug=data.get("slug") or None,
            website=data.get("website", ""),
            company_size=data.get("company_size", ""),
            email=data.get("email", ""),
            phone=data.get("phone", ""),
            actor=actor_of(request),
        )
        organization.my_role = Role.OWNER
        return Response(s.OrganizationSerializer(organization).data, status=status.HTTP_201_CREATED)


class OrganizationDetailView(OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.ORG_READ, "PATCH": perms.ORG_UPDATE, "PUT": perms.ORG_UPDATE, "DELETE": perms.ORG_DELETE}

    def _body(self):
        organization = self.organization
        organization.my_role = self.org_context.membership.role if self.org_context.membership else None
        return s.OrganizationSerializer(organization).data

    @extend_schema(parameters=ORG_PATH, responses={200: s.OrganizationSerializer, **ERRORS}, tags=["organizations"])
    def get(self, request, org_id):
        """Get an organization."""
        return Response(self._body())

    @extend_schema(
        parameters=ORG_PATH,
        request=s.OrganizationUpdateSerializer,
        responses={200: s.OrganizationSerializer, 402: OpenApiResponse(description="PLAN_UPGRADE_REQUIRED (slug change)"), 409: ERRORS[400], **ERRORS},
        tags=["organizations"],
    )
    def patch(self, request, org_id):
        """Change name, website, e-mail, phone or slug (a slug change needs the `custom_slug` plan feature)."""
        serializer = s.OrganizationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.organization_update(organization=self.organization, actor=actor_of(request), data=serializer.validated_data)
        return Response(self._body())

    @extend_schema(
        parameters=ORG_PATH,
        request=s.OrganizationUpdateSerializer,
        responses={200: s.OrganizationSerializer, 402: OpenApiResponse(description="PLAN_UPGRADE_REQUIRED (slug change)"), 409: ERRORS[400], **ERRORS},
        tags=["organizations"],
    )
    def put(self, request, org_id):
        """Change name, website, e-mail, phone or slug (same body as PATCH)."""
        return self.patch(request, org_id)

    @extend_schema(parameters=ORG_PATH, request=s.OrganizationDeleteSerializer, responses={204: None, **ERRORS}, tags=["organizations"])
    def delete(self, request, org_id):
        """Delete the organization (owner only; `confirm` must be its slug)."""
        serializer = s.OrganizationDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.organization_delete(organization=self.organization, actor=actor_of(request), confirm=serializer.validated_data["confirm"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationSettingsView(OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.ORG_READ, "PATCH": perms.ORG_UPDATE, "PUT": perms.ORG_UPDATE}

    @extend_schema(parameters=ORG_PATH, responses={200: s.SettingsSerializer, **ERRORS}, tags=["organizations"])
    def get(self, request, org_id):
        """The organization's settings."""
        return Response({"settings": self.organization.settings})

    @extend_schema(parameters=ORG_PATH, request=s.SettingsSerializer, responses={200: s.SettingsSerializer, **ERRORS}, tags=["organizations"])
    def patch(self, request, org_id):
        """Merge settings (known keys only; null removes a key)."""
        serializer = s.SettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new_default_role = serializer.validated_data["settings"].get("default_role")
        if isinstance(new_default_role, str) and new_default_role != Role.OWNER:
            # Invariant 1: the role every newcomer will get is handed out by whoever sets it.
            require_role_grantable(request, self.org_context, slug=new_default_role)
        settings = services.organization_settings_update(
            organization=self.organization, actor=actor_of(request), settings=serializer.validated_data["settings"]
        )
        return Response({"settings": settings})

    @extend_schema(parameters=ORG_PATH, request=s.SettingsSerializer, responses={200: s.SettingsSerializer, **ERRORS}, tags=["organizations"])
    def put(self, request, org_id):
        """Merge settings (same body as PATCH)."""
        return self.patch(request, org_id)


class OrganizationStatsView(OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.ORG_READ}

    @extend_schema(parameters=ORG_PATH, responses={200: s.StatsSerializer, **ERRORS}, tags=["organizations"])
    def get(self, request, org_id):
        """Members, teams, pending invites, API keys, integrations, storage used."""
        return Response(selectors.organization_stats(organization=self.organization))


class MemberListView(OrgScopedMixin, CompiledFirstPageMixin, ListAPIView):
    required_permissions = {"GET": perms.MEMBERS_READ, "POST": perms.MEMBERS_INVITE}
    serializer_class = s.MemberSerializer
    queryset = Membership.objects.none()
    # Page 1 without filters: the member list's SQL compiled once, rows rendered by MemberSerializer's fields.
    first_page = CompiledList(s.MemberSerializer, Organization, lambda organization: selectors.member_list(organization=organization))
    list_filters = ("search", "role", "status")

    def first_page_owner(self):
        return self.organization

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        params = self.request.query_params
        status_filter = params.get("status")
        if status_filter and status_filter not in Membership.Status.values:
            raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message="Unknown status.", details={"status": ["Use active or suspended."]})
        return selectors.member_list(
            organization=self.organization,
            search=(params.get("search") or "")[:100] or None,
            role=params.get("role") or None,
            status=status_filter or None,
        )

    @extend_schema(
        parameters=ORG_PATH
        + [
            OpenApiParameter("search", str, description="Matches email, name or display name"),
            OpenApiParameter("role", str),
            OpenApiParameter("status", str, enum=["active", "suspended"]),
        ],
        tags=["members"],
    )
    def get(self, request, *args, **kwargs):
        """Members with role, status and joined_at."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        parameters=ORG_PATH,
        request=s.MemberAddSerializer,
        responses={
            201: s.MemberSerializer,
            402: OpenApiResponse(description="PLAN_LIMIT_REACHED (member limit)"),
            409: OpenApiResponse(description="CONFLICT: already a member"),
            **ERRORS,
        },
        tags=["members"],
        description=(
            "Needs `members:invite`. Only an existing user whose e-mail is verified, at one of the organization's "
            "verified domains and inside its `allowed_email_domains`; anyone else: 400 (invite them instead). "
            "`role` defaults to the org's `default_role` and must be one you could give."
        ),
    )
    def post(self, request, org_id):
        """Add an existing user directly (verified e-mail at a verified domain of the org)."""
        serializer = s.MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        context = self.org_context
        membership = services.member_add(
            organization=self.organization,
            actor=actor_of(request),
            ensure_role_grantable=lambda slug: require_role_grantable(request, context, slug=slug),
            **serializer.validated_data,
        )
        return Response(
            s.MemberSerializer(selectors.member_get(organization=self.organization, user_id=membership.user_id)).data, status=status.HTTP_201_CREATED
        )


class MemberDetailView(OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.MEMBERS_READ, "PATCH": perms.MEMBERS_UPDATE, "PUT": perms.MEMBERS_UPDATE, "DELETE": perms.MEMBERS_REMOVE}

    def _member(self, user_id):
        return selectors.member_get(organization=self.organization, user_id=user_id)

    @extend_schema(parameters=ORG_PATH, responses={200: s.MemberSerializer, **ERRORS}, tags=["members"])
    def get(self, request, org_id, user_id):
        """One member."""
        return Response(s.MemberSerializer(self._member(user_id)).data)

    @extend_schema(parameters=ORG_PATH, request=s.MemberUpdateSerializer, responses={200: s.MemberSerializer, **ERRORS}, tags=["members"])
    def patch(self, request, org_id, user_id):
        """Change a member's role (to one you could give) and/or suspend or reactivate them (not one who holds what you do not)."""
        serializer = s.MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        context = self.org_context
        membership = services.member_update(
            membership=self._member(user_id),
            actor=actor_of(request),
            actor_membership=context.membership,
            data=serializer.validated_data,
            ensure_role_grantable=lambda slug: require_role_grantable(request, context, slug=slug),
            ensure_not_better=lambda target: require_not_better(request, context, target=target),
        )
        return Response(s.MemberSerializer(membership).data)

    @extend_schema(parameters=ORG_PATH, request=s.MemberUpdateSerializer, responses={200: s.MemberSerializer, **ERRORS}, tags=["members"])
    def put(self, request, org_id, user_id):
        """Change a member's role and/or status (same body as PATCH)."""
        return self.patch(request, org_id, user_id)

    @extend_schema(parameters=ORG_PATH, responses={204: None, **ERRORS}, tags=["members"])
    def delete(self, request, org_id, user_id):
        """Remove a member (never the owner, never one who holds what you do not)."""
        body_refuse(request)
        context = self.org_context
        services.member_remove(
            membership=self._member(user_id),
            actor=actor_of(request),
            ensure_not_better=lambda target: require_not_better(request, context, target=target),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberRevokeView(OrgScopedMixin, APIView):
    required_permissions = {"POST": perms.MEMBERS_UPDATE}

    @extend_schema(parameters=ORG_PATH, request=s.MemberRevokeSerializer, responses={200: s.MemberSerializer, **ERRORS}, tags=["members"])
    def post(self, request, org_id, user_id):
        """Suspend a member with a reason (never the owner, yourself, or one who holds what you do not)."""
        membership = selectors.member_get(organization=self.organization, user_id=user_id)  # first: another org's member is 404
        serializer = s.MemberRevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        context = self.org_context
        membership = services.member_revoke(
            membership=membership,
            actor=actor_of(request),
            actor_membership=context.membership,
            reason=serializer.validated_data["reason"],
            ensure_not_better=lambda target: require_not_better(request, context, target=target),
        )
        return Response(s.MemberSerializer(membership).data)


class TransferOwnershipView(OrgScopedMixin, APIView):
    required_permissions = {"POST": perms.ORG_TRANSFER}

    @extend_schema(parameters=ORG_PATH, request=s.TransferOwnershipSerializer, responses={200: s.MemberSerializer, **ERRORS}, tags=["members"])
    def post(self, request, org_id):
        """Make another member the owner; I become admin."""
        serializer = s.TransferOwnershipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.ownership_transfer(organization=self.organization, actor=actor_of(request), new_owner_id=serializer.validated_data["user_id"])
        return Response(s.MemberSerializer(membership).data)


class LeaveView(OrgScopedMixin, APIView):
    required_permissions = {"POST": MEMBERSHIP}

    @extend_schema(parameters=ORG_PATH, request=None, responses={204: None, 409: ERRORS[400], **ERRORS}, tags=["members"])
    def post(self, request, org_id):
        """Leave the organization (the owner must transfer ownership first)."""
        body_refuse(request)
        services.member_leave(membership=self.org_context.membership, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(OrgScopedMixin, APIView):
    required_permissions = {"GET": MEMBERSHIP, "PATCH": MEMBERSHIP}

    @extend_schema(parameters=ORG_PATH, responses={200: s.ProfileSerializer, **ERRORS}, tags=["members"])
    def get(self, request, org_id):
        """My per-org profile."""
        return Response(s.ProfileSerializer(self.org_context.membership).data)

    @extend_schema(parameters=ORG_PATH, request=s.ProfileSerializer, responses={200: s.ProfileSerializer, **ERRORS}, tags=["members"])
    def patch(self, request, org_id):
        """Change my display name and title in this organization."""
        serializer = s.ProfileSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        membership = services.member_profile_update(membership=self.org_context.membership, data=serializer.validated_data, actor=actor_of(request))
        return Response(s.ProfileSerializer(membership).data)


def _current_session(request) -> UserSession:
    session = UserSession.objects.select_related("user", "impersonator").filter(id=session_id_of(request), user=request.user).first()
    if session is None:
        raise ApplicationError(code=ErrorCode.TOKEN_INVALID, message="Session not found.", status_code=401)
    return session


class SetupOrganizationView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.SetupOrganizationSerializer, responses={201: AuthResponseSerializer, 409: ERRORS[400], **ERRORS}, tags=["auth"])
    def post(self, request):
        """First organization of a user who has none: create it and get tokens with it active."""
        serializer = s.SetupOrganizationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if selectors.organization_list_for_user(user=request.user).exists():
            raise ApplicationError(code=ErrorCode.CONFLICT, message="You already belong to an organization.", status_code=409)
        data = serializer.validated_data
        with transaction.atomic():
            organization = services.organization_create(
                user=request.user,
                name=data["organization_name"],
                website=data.get("organization_website", ""),
                company_size=data.get("company_size", ""),
                actor=actor_of(request),
            )
            pair = session_switch_organization(session=_current_session(request), organization_id=organization.id)
        return Response(auth_body(pair, request.user), status=status.HTTP_201_CREATED)


class SwitchOrgView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.SwitchOrgSerializer, responses={200: AuthResponseSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """New tokens with another organization (of which I am an active member) active."""
        serializer = s.SwitchOrgSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization_id = serializer.validated_data["organization_id"]
        if selectors.membership_active(user=request.user, organization_id=organization_id) is None:
            raise ApplicationError(code=ErrorCode.INVALID_ORG_CONTEXT, message="You are not an active member of this organization.", status_code=403)
        pair = session_switch_organization(session=_current_session(request), organization_id=organization_id)
        return Response(auth_body(pair, request.user))
