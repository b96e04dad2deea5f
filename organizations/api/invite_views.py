"""Invitations: org side (create, list, get, cancel, resend) and public side by code (view, accept, decline)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import AuthResponseSerializer
from accounts.api.views import auth_body
from core.actor import actor_of
from core.roles import Role
from core.serializers import body_refuse
from organizations import invites
from organizations import permissions as perms
from organizations.api import invite_serializers as s
from organizations.api.views import ERRORS, ORG_PATH
from organizations.models import Invite
from permissions.drf import OrgScopedMixin, require_role_grantable, require_team_join

CODE_PATH = [OpenApiParameter("code", str, OpenApiParameter.PATH, description="The invitation code from the link")]
INVITE_PATH = [OpenApiParameter("invite_id", str, OpenApiParameter.PATH, description="Invitation id (UUID)")]
UNUSABLE = OpenApiResponse(description="VALIDATION_ERROR naming `code`: the invitation expired, or was already accepted, declined or cancelled")
ACCEPT_INVALID = OpenApiResponse(
    description="VALIDATION_ERROR naming `code` (expired, already accepted, declined or cancelled), "
    "or `full_name` / `password` (anonymous: missing, or a weak password)"
)


class InviteListCreateView(OrgScopedMixin, ListAPIView):
    required_permissions = {"GET": perms.MEMBERS_READ, "POST": perms.MEMBERS_INVITE}
    serializer_class = s.InviteSerializer
    queryset = Invite.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invite.objects.none()
        return invites.invite_list(organization=self.organization, status=self.request.query_params.get("status") or None)

    @extend_schema(
        parameters=ORG_PATH + [OpenApiParameter("status", str, enum=s.INVITE_STATUSES)],
        responses={200: s.InviteSerializer(many=True), **ERRORS},
        tags=["invites"],
    )
    def get(self, request, *args, **kwargs):
        """Invitations of the organization, newest first (codes are never shown here)."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        parameters=ORG_PATH,
        request=s.InviteCreateSerializer,
        responses={
            201: s.InviteIssuedSerializer,
            200: OpenApiResponse(s.InviteIssuedSerializer, description="A pending invitation for this email was refreshed (new code and expiry)"),
            402: OpenApiResponse(description="PLAN_LIMIT_REACHED (members + pending invitations)"),
            409: OpenApiResponse(description="CONFLICT: already a member"),
            **ERRORS,
        },
        tags=["invites"],
    )
    def post(self, request, org_id):
        """Invite someone by email; the link goes out by email and is returned once, here."""
        serializer = s.InviteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["role"] != Role.OWNER:
            # Nobody hands out more than they hold themselves: the role, and the teams' allow policies.
            require_role_grantable(request, self.org_context, slug=data["role"])
        require_team_join(request, self.org_context, team_ids=data["team_ids"] or [])
        issued = invites.invite_create(
            organization=self.organization,
            email=data["email"],
            role=data["role"],
            team_ids=data["team_ids"],
            actor=actor_of(request),
        )
        return Response(s.InviteIssuedSerializer(issued).data, status=status.HTTP_201_CREATED if issued.created else status.HTTP_200_OK)


class InviteDetailView(OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.MEMBERS_READ, "DELETE": perms.MEMBERS_INVITE}

    @extend_schema(parameters=ORG_PATH + INVITE_PATH, responses={200: s.InviteSerializer, **ERRORS}, tags=["invites"])
    def get(self, request, org_id, invite_id):
        """One invitation."""
        return Response(s.InviteSerializer(invites.invite_get(organization=self.organization, invite_id=invite_id)).data)

    @extend_schema(
        parameters=ORG_PATH + INVITE_PATH,
        responses={204: None, 409: OpenApiResponse(description="CONFLICT: already accepted or declined"), **ERRORS},
        tags=["invites"],
    )
    def delete(self, request, org_id, invite_id):
        """Cancel an invitation: its link stops working."""
        body_refuse(request)
        invite = invites.invite_get(organization=self.organization, invite_id=invite_id)
        invites.invite_cancel(invite=invite, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InviteResendView(OrgScopedMixin, APIView):
    required_permissions = {"POST": perms.MEMBERS_INVITE}

    @extend_schema(
        parameters=ORG_PATH + INVITE_PATH,
        request=None,
        responses={200: s.InviteIssuedSerializer, 409: OpenApiResponse(description="CONFLICT: not pending any more, or already a member"), **ERRORS},
        tags=["invites"],
    )
    def post(self, request, org_id, invite_id):
        """Issue a new code and expiry and email the link again (the old link stops working)."""
        body_refuse(request)
        invite = invites.invite_get(organization=self.organization, invite_id=invite_id)
        # The new code is returned to the caller: only someone who could grant the role and teams may get it.
        require_role_grantable(request, self.org_context, slug=invite.role)
        require_team_join(request, self.org_context, team_ids=[team.id for team in invite.teams.all()])
        issued = invites.invite_resend(invite=invite, actor=actor_of(request))
        return Response(s.InviteIssuedSerializer(issued).data)


class PublicInviteView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        parameters=CODE_PATH,
        responses={200: s.PublicInviteSerializer, 404: OpenApiResponse(description="NOT_FOUND: unknown code")},
        tags=["invites"],
        auth=[],
    )
    def get(self, request, code):
        """What an invitation offers (organization, email, role, expiry, status)."""
        return Response(s.PublicInviteSerializer(invites.invite_get_by_code(code=code)).data)


class PublicInviteAcceptView(APIView):
    permission_classes = [AllowAny]
    throttle_scope = "login"

    @extend_schema(
        parameters=CODE_PATH,
        request=s.InviteAcceptSerializer,
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="InviteAcceptResponse",
                    serializers=[s.InviteAcceptedSerializer, AuthResponseSerializer],
                    resource_type_field_name=None,
                ),
                description="Signed in: `{organization, role}`. Anonymous (account created): tokens, user and organization, as at login.",
            ),
            400: ACCEPT_INVALID,
            403: OpenApiResponse(description="INSUFFICIENT_PERMISSIONS: the invitation is for another email, or mine is not verified yet"),
            404: OpenApiResponse(description="NOT_FOUND: unknown code"),
            409: OpenApiResponse(description="CONFLICT: anonymous, but an account with this email exists (sign in, then accept)"),
        },
        tags=["invites"],
    )
    def post(self, request, code):
        """Accept: signed in with the invited (verified) email, or anonymous with `{full_name, password}` to create the account."""
        serializer = s.InviteAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = invites.invite_accept(
            code=code,
            full_name=serializer.validated_data.get("full_name"),
            first_name=serializer.validated_data.get("first_name"),
            last_name=serializer.validated_data.get("last_name"),
            password=serializer.validated_data.get("password"),
            actor=actor_of(request),
        )
        if result.tokens is not None:
            return Response(auth_body(result.tokens, result.user))
        organization = result.invite.organization
        return Response({"organization": {"id": organization.id, "name": organization.name, "slug": organization.slug}, "role": result.membership.role})


class PublicInviteDeclineView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=CODE_PATH,
        request=None,
        responses={204: None, 400: UNUSABLE, 404: OpenApiResponse(description="NOT_FOUND: unknown code")},
        tags=["invites"],
    )
    def post(self, request, code):
        """Decline an invitation."""
        body_refuse(request)
        invites.invite_decline(code=code, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
