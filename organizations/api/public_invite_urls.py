"""Public invitation routes by code (mounted under /api/v1/invites/)."""

from django.urls import path

from organizations.api import invite_views

urlpatterns = [
    path("<str:code>", invite_views.PublicInviteView.as_view(), name="detail"),
    path("<str:code>/accept", invite_views.PublicInviteAcceptView.as_view(), name="accept"),
    path("<str:code>/decline", invite_views.PublicInviteDeclineView.as_view(), name="decline"),
]
