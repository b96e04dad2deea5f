"""Teams of an organization, their members, and my teams."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_of
from core.serializers import body_refuse
from organizations import permissions as perms
from organizations import teams
from organizations.api import invite_serializers as s
from organizations.api.views import ERRORS, ORG_PATH
from organizations.models import Team, TeamMembership
from permissions.drf import OrgScopedMixin, require_team_join, require_team_leave
from permissions.engine import MEMBERSHIP

TEAM_PATH = [OpenApiParameter("team_id", str, OpenApiParameter.PATH, description="Team id (UUID)")]
USER_PATH = [OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="User id (UUID)")]
DUPLICATE = OpenApiResponse(description="CONFLICT: a team with this name exists")


class TeamListCreateView(OrgScopedMixin, ListAPIView):
    required_permissions = {"GET": perms.TEAMS_READ, "POST": perms.TEAMS_MANAGE}
    serializer_class = s.TeamSerializer
    queryset = Team.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Team.objects.none()
        return teams.team_list(organization=self.organization)

    @extend_schema(parameters=ORG_PATH, responses={200: s.TeamSerializer(many=True), **ERRORS}, tags=["teams"])
    def get(self, request, *args, **kwargs):
        """Teams of the organization, by name, with member counts."""
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=ORG_PATH, request=s.TeamWriteSerializer, responses={201: s.TeamSerializer, 409: DUPLICATE, **ERRORS}, tags=["teams"])
    def post(self, request, org_id):
        """Create a team."""
        serializer = s.TeamWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = teams.team_create(organization=self.organization, actor=actor_of(request), **serializer.validated_data)
        return Response(s.TeamSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamDetailView(OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.TEAMS_READ, "PATCH": perms.TEAMS_MANAGE, "DELETE": perms.TEAMS_MANAGE}

    def _team(self, team_id) -> Team:
        return teams.team_get(organization=self.organization, team_id=team_id)

    @extend_schema(parameters=ORG_PATH + TEAM_PATH, responses={200: s.TeamSerializer, **ERRORS}, tags=["teams"])
    def get(self, request, org_id, team_id):
        """One team."""
        return Response(s.TeamSerializer(self._team(team_id)).data)

    @extend_schema(
        parameters=ORG_PATH + TEAM_PATH,
        request=s.TeamWriteSerializer(partial=True),
        responses={200: s.TeamSerializer, 409: DUPLICATE, **ERRORS},
        tags=["teams"],
    )
    def patch(self, request, org_id, team_id):
        """Rename a team or change its description."""
        serializer = s.TeamWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        team = teams.team_update(team=self._team(team_id), data=serializer.validated_data, actor=actor_of(request))
        return Response(s.TeamSerializer(team).data)

    @extend_schema(parameters=ORG_PATH + TEAM_PATH, responses={204: None, **ERRORS}, tags=["teams"])
    def delete(self, request, org_id, team_id):
        """Delete a team (its members stay in the organization; checked like taking them all off it)."""
        body_refuse(request)
        team, context = self._team(team_id), self.org_context
        teams.team_delete(
            team=team,
            actor=actor_of(request),
            ensure_leavable=lambda members: require_team_leave(request, context, team_id=team.id, targets=members),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMemberListCreateView(OrgScopedMixin, ListAPIView):
    required_permissions = {"GET": perms.TEAMS_READ, "POST": perms.TEAMS_MANAGE}
    serializer_class = s.TeamMemberSerializer
    queryset = TeamMembership.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TeamMembership.objects.none()
        return teams.team_member_list(team=teams.team_get(organization=self.organization, team_id=self.kwargs["team_id"]))

    @extend_schema(parameters=ORG_PATH + TEAM_PATH, responses={200: s.TeamMemberSerializer(many=True), **ERRORS}, tags=["teams"])
    def get(self, request, *args, **kwargs):
        """Members of a team, in the order they joined it."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        parameters=ORG_PATH + TEAM_PATH,
        request=s.TeamMemberAddSerializer,
        responses={201: s.TeamMemberSerializer, 409: OpenApiResponse(description="CONFLICT: already on the team"), **ERRORS},
        tags=["teams"],
    )
    def post(self, request, org_id, team_id):
        """Put an active member of the organization on the team (only if you hold what the team's policies grant)."""
        serializer = s.TeamMemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team, context = teams.team_get(organization=self.organization, team_id=team_id), self.org_context
        member = teams.team_member_add(
            team=team,
            user_id=serializer.validated_data["user_id"],
            actor=actor_of(request),
            ensure_joinable=lambda membership: require_team_join(request, context, team_ids=[team.id], target=membership),
        )
        return Response(s.TeamMemberSerializer(member).data, status=status.HTTP_201_CREATED)


class TeamMemberDetailView(OrgScopedMixin, APIView):
    required_permissions = {"DELETE": perms.TEAMS_MANAGE}

    @extend_schema(parameters=ORG_PATH + TEAM_PATH + USER_PATH, responses={204: None, **ERRORS}, tags=["teams"])
    def delete(self, request, org_id, team_id, user_id):
        """Take a member off the team (only if you could lift its denies and hold what they hold)."""
        body_refuse(request)
        team, context = teams.team_get(organization=self.organization, team_id=team_id), self.org_context
        teams.team_member_remove(
            team=team,
            user_id=user_id,
            actor=actor_of(request),
            ensure_leavable=lambda members: require_team_leave(request, context, team_id=team.id, targets=members),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyTeamsView(OrgScopedMixin, APIView):
    required_permissions = {"GET": MEMBERSHIP}

    @extend_schema(parameters=ORG_PATH, responses={200: s.TeamListEnvelopeSerializer, **ERRORS}, tags=["teams"])
    def get(self, request, org_id):
        """The teams I belong to in this organization (unpaginated)."""
        membership = self.org_context.membership
        if membership is None:  # an API key belongs to no team
            return Response({"data": []})
        mine = teams.team_list_for_user(organization=self.organization, user=membership.user_id)
        return Response({"data": s.TeamSerializer(mine, many=True).data})
