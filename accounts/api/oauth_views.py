"""Google sign-in endpoints: thin views over accounts.oauth (allauth does the OAuth round trip)."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import oauth
from accounts.api.views import ERRORS, organization_id_of
from core.actor import actor_of
from core.schema import errors
from core.serializers import body_refuse

TO_GOOGLE = "Redirect to Google's consent page (or to the front end with `#error=<code>`)."
TO_FRONTEND = (
    "Redirect to `{FRONTEND_URL}/auth/callback#...`: `access_token`, `refresh_token`, `token_type`, "
    "`expires_in`, `needs_org_setup`; or `status=mfa_required&mfa_token=...`; or `linked=google`; "
    "or `error=<code>`."
)


class GoogleStartView(APIView):
    # Its GET writes (core.handlers): keep the request transaction.
    atomic_reads = True
    permission_classes = [AllowAny]
    # A browser navigation: no JWT; linking is authorized by the single-use `token` instead.
    authentication_classes = []

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=False, description="Single-use link token from `GET auth/link/google`.")],
        responses={302: OpenApiResponse(description=TO_GOOGLE)},
        tags=["auth"],
    )
    def get(self, request):
        """Start Google sign-in, or, with a link token, linking Google to that account."""
        token = request.query_params.get("token")
        if token:
            return oauth.google_link_start(request=request._request, token=token)
        return oauth.google_login_start(request=request._request)


class GoogleCallbackView(APIView):
    # Its GET writes (core.handlers): keep the request transaction.
    atomic_reads = True
    permission_classes = [AllowAny]
    # Reads (never trusts for anything else) the short Django session a link start opened: left to
    # DRF's default, the anonymous user would overwrite the session user allauth's connect flow needs.
    authentication_classes = [SessionAuthentication]

    @extend_schema(
        parameters=[
            OpenApiParameter("code", str, required=False),
            OpenApiParameter("state", str, required=False),
            OpenApiParameter("error", str, required=False),
        ],
        responses={302: OpenApiResponse(description=TO_FRONTEND)},
        auth=[{}],  # public: the session cookie is internal to the link flow, not a way to call the API
        tags=["auth"],
    )
    def get(self, request):
        """Google's redirect target: exchange the code and send the browser on to the front end."""
        return oauth.google_callback(request=request._request)


class GoogleLinkView(APIView):
    # Its GET writes (core.handlers): keep the request transaction.
    atomic_reads = True

    @extend_schema(
        responses={
            200: inline_serializer("OAuthLinkResponse", fields={"redirect_url": serializers.URLField()}),
            **ERRORS,
            **errors(403, wording={403: "INSUFFICIENT_PERMISSIONS (e-mail not verified yet, or an impersonation token)"}),
        },
        tags=["auth"],
    )
    def get(self, request):
        """Return the URL a browser opens to link Google to my account (valid 10 minutes, single use).

        The response also sets an HttpOnly cookie: the URL works only in the browser that received
        it (call this with credentials included, then navigate that same browser to the URL).
        """
        link = oauth.google_link_url_issue(
            user=request.user,
            start_url=request.build_absolute_uri(reverse(oauth.START_URL_NAME)),
            organization_id=organization_id_of(request),
        )
        response = Response({"redirect_url": link.url})
        oauth.link_binding_set(response, link.binding)
        return response


class UnlinkView(APIView):
    @extend_schema(
        responses={204: None, 404: OpenApiResponse(description="NOT_FOUND (error envelope)"), **ERRORS},
        tags=["auth"],
    )
    def delete(self, request, provider: str):
        """Unlink a sign-in provider; refused while it is my only way to sign in."""
        body_refuse(request)
        oauth.social_account_unlink(user=request.user, provider=provider, actor=actor_of(request), organization_id=organization_id_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
