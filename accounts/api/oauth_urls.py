"""Google sign-in, linking and unlinking (mounted under /api/v1/auth/)."""

from django.urls import path

from accounts.api import oauth_views

urlpatterns = [
    path("google", oauth_views.GoogleStartView.as_view(), name="google"),
    path("google/callback", oauth_views.GoogleCallbackView.as_view(), name="google-callback"),
    path("link/google", oauth_views.GoogleLinkView.as_view(), name="link-google"),
    path("unlink/<str:provider>", oauth_views.UnlinkView.as_view(), name="unlink"),
]
