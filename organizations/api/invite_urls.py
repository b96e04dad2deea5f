"""Org-scoped routes for invitations, teams and domains (mounted under /api/v1/orgs/<org_id>/)."""

from django.urls import path

from organizations.api import domain_views, invite_views, team_views

urlpatterns = [
    path("invites", invite_views.InviteListCreateView.as_view(), name="invites"),
    path("invites/<uuid:invite_id>", invite_views.InviteDetailView.as_view(), name="invite-detail"),
    path("invites/<uuid:invite_id>/resend", invite_views.InviteResendView.as_view(), name="invite-resend"),
    path("teams", team_views.TeamListCreateView.as_view(), name="teams"),
    path("teams/<uuid:team_id>", team_views.TeamDetailView.as_view(), name="team-detail"),
    path("teams/<uuid:team_id>/members", team_views.TeamMemberListCreateView.as_view(), name="team-members"),
    path("teams/<uuid:team_id>/members/<uuid:user_id>", team_views.TeamMemberDetailView.as_view(), name="team-member-detail"),
    path("my-teams", team_views.MyTeamsView.as_view(), name="my-teams"),
    path("domains", domain_views.DomainListCreateView.as_view(), name="domains"),
    path("domains/<uuid:id>", domain_views.DomainDetailView.as_view(), name="domain-detail"),
    path("domains/<uuid:id>/verify", domain_views.DomainVerifyView.as_view(), name="domain-verify"),
]
