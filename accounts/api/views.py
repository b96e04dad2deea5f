"""Auth, Users and Staff endpoints: thin views over accounts.services / selectors."""

import functools

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import login, mfa, selectors, services, sessions, staff
from accounts.api import serializers as s
from accounts.models import User, UserSession
from accounts.sessions import OrgSelection
from accounts.tokens import TokenPair
from core import hooks
from core.actor import actor_of, principal_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from core.schema import errors
from core.serializers import body_refuse

ERRORS = errors(400, 401, 429)
# Views whose failures must persist (lockout counters, reuse revocation, audit of failures)
# run outside the request transaction; their services open their own transactions.
non_atomic = method_decorator(transaction.non_atomic_requests, name="dispatch")


def session_id_of(request) -> str | None:
    """The `sid` of the access token that authenticated this request."""
    return principal_of(request).session_id


def organization_id_of(request) -> str | None:
    """The active organization claimed by the access token."""
    return principal_of(request).organization_id


def auth_body(pair: TokenPair, user: User, organization=None) -> dict:
    """Token response with the user and their active organization."""
    organization_summary = None
    if pair.session.organization_id:
        organization_summary = hooks.organization_summary(user=user, organization_id=pair.session.organization_id)
    return {**pair.as_response(), "user": s.UserSerializer(user).data, "organization": organization_summary}


def sign_in_body(result: TokenPair | OrgSelection | str) -> dict:
    """The answer of a sign-in step: an MFA challenge, an org selection, or tokens listing every org of the user."""
    if isinstance(result, str):
        return {"status": "mfa_required", "mfa_token": result}
    if isinstance(result, OrgSelection):
        return result.as_response()
    user = result.session.user
    return {**auth_body(result, user), "organizations": hooks.user_organizations(user=user)}


class SetupStatusView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses=s.SetupStatusSerializer, tags=["auth"])
    def get(self, request):
        """Tell a fresh install whether its first account still has to be created."""
        has_users = User.objects.exists()
        return Response({"needs_setup": not has_users, "has_users": has_users})


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "login"

    @extend_schema(request=s.RegisterSerializer, responses={201: s.RegisterResponseSerializer, 409: ERRORS[400], **ERRORS}, tags=["auth"])
    def post(self, request):
        """Create an account (and optionally its organization) and sign it in."""
        serializer = s.RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user, organization, pair = services.user_register(
            email=data["email"],
            password=data["password"],
            full_name=data.get("full_name"),
            first_name=data.get("first_name"),
            last_name=data.get("last_name"),
            organization_name=data.get("organization_name") or None,
            organization_website=data.get("organization_website") or None,
            actor=actor_of(request),
        )
        return Response(auth_body(pair, user), status=status.HTTP_201_CREATED)


@non_atomic
class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    parser_classes = [JSONParser, FormParser]
    throttle_scope = "login"

    @extend_schema(
        request={"application/json": s.LoginSerializer, "application/x-www-form-urlencoded": s.LoginSerializer},
        responses={200: s.LoginResponseSerializer, **ERRORS},
        tags=["auth"],
    )
    def post(self, request):
        """Sign in with email and password (JSON, or the OAuth2 password form)."""
        serializer = s.LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = login.user_login(
            request=request,
            email=data["email"],
            password=data["password"],
            organization_id=data.get("organization_id"),
            org_selection=data.get("org_selection", False),
        )
        return Response(sign_in_body(result))


@non_atomic
class MfaVerifyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "mfa"

    @extend_schema(request=s.MfaVerifySerializer, responses={200: s.LoginResponseSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Complete an MFA sign-in with a TOTP code or an unused backup code (tokens, or the org selection asked for)."""
        serializer = s.MfaVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = mfa.challenge_complete(mfa_token=serializer.validated_data["mfa_token"], code=serializer.validated_data["code"], actor=actor_of(request))
        return Response(sign_in_body(result))


class SelectOrgView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "login"

    @extend_schema(
        summary="Pick the organization of a sign-in",
        request=s.SelectOrgSerializer,
        responses={200: s.SignInResponseSerializer, 403: OpenApiResponse(description="INVALID_ORG_CONTEXT (not an active member)"), **ERRORS},
        tags=["auth"],
    )
    def post(self, request):
        """Finish a sign-in that answered `org_selection_required`: tokens with the chosen org active."""
        serializer = s.SelectOrgSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = sessions.org_selection_complete(
            selection_token=serializer.validated_data["selection_token"],
            organization_id=serializer.validated_data["organization_id"],
            actor=actor_of(request),
        )
        return Response(sign_in_body(pair))


@non_atomic
class RefreshView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=s.RefreshSerializer, responses={200: s.TokenResponseSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Exchange a refresh token for a new access + refresh pair (rotation with reuse detection)."""
        serializer = s.RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = sessions.token_refresh(refresh_token=serializer.validated_data["refresh_token"], actor=actor_of(request))
        return Response(pair.as_response())


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Revoke the current session."""
        body_refuse(request)
        session = get_object_or_404(request.user.sessions.all(), id=session_id_of(request))
        sessions.session_revoke(session=session, reason="logout", actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    @extend_schema(request=None, responses={204: None, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Revoke every session of the current user."""
        body_refuse(request)
        sessions.sessions_revoke_all(user=request.user, reason="logout_all", actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionListView(ListAPIView):
    serializer_class = s.SessionSerializer
    queryset = UserSession.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return UserSession.objects.none()
        return selectors.session_list(user=self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "current_session_id": session_id_of(self.request)}

    @extend_schema(tags=["auth"])
    def get(self, request, *args, **kwargs):
        """List my live sessions (`current` marks this one)."""
        return super().get(request, *args, **kwargs)


class SessionDetailView(APIView):
    @extend_schema(responses={204: None, 404: OpenApiResponse(description="NOT_FOUND")}, tags=["auth"])
    def delete(self, request, session_id):
        """Revoke one of my sessions."""
        body_refuse(request)
        session = get_object_or_404(selectors.session_list(user=request.user), id=session_id)
        sessions.session_revoke(session=session, reason="revoked_by_user", actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated, staff.NotImpersonating]

    @extend_schema(request=s.PasswordChangeSerializer, responses={204: None, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Change my password; my other sessions are revoked."""
        serializer = s.PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_change(
            user=request.user,
            current_password=serializer.validated_data["current_password"],
            new_password=serializer.validated_data["new_password"],
            session_id=session_id_of(request),
            actor=actor_of(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetRequestView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"

    @extend_schema(request=s.PasswordResetRequestSerializer, responses={202: s.DetailSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Email a reset link if the account exists (the answer is the same either way)."""
        serializer = s.PasswordResetRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response(
            {"detail": "If an account exists for this email, a reset link has been sent."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"

    @extend_schema(request=s.PasswordResetSerializer, responses={204: None, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Set a new password with a reset token; every session is revoked."""
        serializer = s.PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset(
            token=serializer.validated_data["token"],
            new_password=serializer.validated_data["new_password"],
            actor=actor_of(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailVerifyView(APIView):
    # Its GET writes (core.handlers): keep the request transaction.
    atomic_reads = True
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"

    def _verify(self, request, data):
        serializer = s.TokenSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        user = services.email_verify(token=serializer.validated_data["token"], actor=actor_of(request))
        return Response({"detail": "Email verified.", "email": user.email, "email_verified": True})

    @extend_schema(
        operation_id="auth_email_verify_confirm",
        request=s.TokenSerializer,
        responses={200: s.DetailSerializer, **ERRORS},
        tags=["auth"],
    )
    def post(self, request):
        """Verify my email with the emailed token."""
        return self._verify(request, request.data)

    @extend_schema(
        operation_id="auth_email_verify_link",
        parameters=[OpenApiParameter("token", str, required=True)],
        responses={200: s.DetailSerializer, **ERRORS},
        tags=["auth"],
    )
    def get(self, request):
        """Verify my email from the link's query string."""
        return self._verify(request, {"token": request.query_params.get("token")})


class EmailResendView(APIView):
    @extend_schema(request=None, responses={202: s.DetailSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Send a new verification email."""
        body_refuse(request)
        if request.user.email_verified:
            return Response({"detail": "Email is already verified."}, status=status.HTTP_200_OK)
        services.email_verification_send(user=request.user)
        return Response({"detail": "Verification email sent."}, status=status.HTTP_202_ACCEPTED)


class MfaStatusView(APIView):
    @extend_schema(responses=s.MfaStatusSerializer, tags=["mfa"])
    def get(self, request):
        """Whether MFA is on, its methods and how many backup codes remain."""
        return Response(s.MfaStatusSerializer(mfa.mfa_status(user=request.user)).data)


class MfaEnrollView(APIView):
    permission_classes = [IsAuthenticated, staff.NotImpersonating]
    throttle_scope = "mfa"

    @extend_schema(
        request=None,
        responses={
            200: s.MfaEnrollSerializer,
            403: OpenApiResponse(description="INSUFFICIENT_PERMISSIONS (impersonation token)"),
            409: OpenApiResponse(description="CONFLICT (MFA already enabled)"),
        },
        tags=["mfa"],
    )
    def post(self, request):
        """Start TOTP enrollment: secret, otpauth URL and QR code (inactive until confirmed)."""
        body_refuse(request)
        return Response(mfa.totp_enroll(user=request.user, session_mfa=principal_of(request).mfa))


@non_atomic
class _MfaCodeView(APIView):
    """Base of the views that act with a TOTP/backup code on my own MFA settings."""

    # Outside the request transaction: django-otp's failure counter must survive the 400.
    permission_classes = [IsAuthenticated, staff.NotImpersonating]
    throttle_scope = "mfa"
    body_serializer = s.MfaCodeSerializer

    def run(self, request, service):
        serializer = self.body_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return service(
            user=request.user,
            code=serializer.validated_data.get("code", ""),
            actor=actor_of(request),
            organization_id=organization_id_of(request),
        )


_IMPERSONATION_403 = OpenApiResponse(description="INSUFFICIENT_PERMISSIONS (impersonation token)")


class MfaConfirmView(_MfaCodeView):
    @extend_schema(
        request=s.MfaCodeSerializer,
        responses={200: s.BackupCodesSerializer, 403: _IMPERSONATION_403, **ERRORS},
        tags=["mfa"],
    )
    def post(self, request):
        """Confirm TOTP with a first code; returns 10 single-use backup codes. My other sessions are revoked."""
        confirm = functools.partial(mfa.totp_confirm, session_id=session_id_of(request))
        return Response({"backup_codes": self.run(request, confirm)})


class MfaRegenerateView(_MfaCodeView):
    @extend_schema(
        request=s.MfaCodeSerializer,
        responses={200: s.BackupCodesSerializer, 403: _IMPERSONATION_403, **ERRORS},
        tags=["mfa"],
    )
    def post(self, request):
        """Replace all backup codes (needs a current TOTP code)."""
        return Response({"backup_codes": self.run(request, mfa.backup_codes_regenerate)})


class MfaDisableView(_MfaCodeView):
    @extend_schema(
        request=s.MfaCodeSerializer,
        responses={204: None, 403: _IMPERSONATION_403, **ERRORS},
        tags=["mfa"],
    )
    def delete(self, request):
        """Turn MFA off with a TOTP or backup code."""
        self.run(request, mfa.totp_disable)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MfaMethodView(_MfaCodeView):
    body_serializer = s.MfaMethodRemoveSerializer

    @extend_schema(
        summary="Remove one MFA method",
        request=s.MfaMethodRemoveSerializer,
        responses={204: None, 403: _IMPERSONATION_403, 404: OpenApiResponse(description="NOT_FOUND (not one of my methods)"), **ERRORS},
        tags=["mfa"],
    )
    def delete(self, request, method_id):
        """Remove one of my MFA methods with a current TOTP or backup code (removing the last factor turns MFA off).

        A passkey of an account without TOTP is removed without a code, from a session that passed MFA.
        """
        self.run(request, functools.partial(mfa.mfa_method_remove, method_id=method_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    def _me(self, request):
        user = request.user
        context = selectors.user_organization_context(user=user, organization_id=organization_id_of(request))
        data = s.UserSerializer(user).data
        return {**data, **context}

    @extend_schema(responses=s.MeSerializer, tags=["users"])
    def get(self, request):
        """My profile, linked sign-in methods and organization context."""
        return Response(self._me(request))

    @extend_schema(request=s.MeUpdateSerializer, responses={200: s.MeSerializer, **ERRORS}, tags=["users"])
    def patch(self, request):
        """Update my profile."""
        serializer = s.MeUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.user_update(user=request.user, data=serializer.validated_data, actor=actor_of(request), organization_id=organization_id_of(request))
        return Response(self._me(request))

    @extend_schema(request=s.MeUpdateSerializer, responses={200: s.MeSerializer, **ERRORS}, tags=["users"])
    def put(self, request):
        """Update my profile (same fields as PATCH)."""
        return self.patch(request)

    @extend_schema(request=s.MeDeleteSerializer, responses={204: None, 409: ERRORS[400], **ERRORS}, tags=["users"])
    def delete(self, request):
        """Delete my account and everything held about me."""
        if principal_of(request).is_impersonation:
            raise ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message="Not allowed while impersonating.", status_code=403)
        serializer = s.MeDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_delete(user=request.user, password=serializer.validated_data.get("password"), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeExportView(APIView):
    @extend_schema(responses={200: OpenApiResponse(description="JSON of everything held about the user")}, tags=["users"])
    def get(self, request):
        """Export everything held about me (GDPR)."""
        return Response(selectors.user_export(user=request.user))


class ImpersonateView(APIView):
    # Checked before the body is read: non-staff cannot probe which user ids exist.
    permission_classes = [IsAuthenticated, staff.CanImpersonate]

    @extend_schema(
        request=s.ImpersonateSerializer,
        responses={
            200: s.ImpersonateResponseSerializer,
            403: OpenApiResponse(description="INSUFFICIENT_PERMISSIONS (not staff, already impersonating, staff target) / MFA_REQUIRED"),
            404: OpenApiResponse(description="NOT_FOUND (no such active user)"),
            **ERRORS,
        },
        tags=["staff"],
    )
    def post(self, request):
        """Staff with MFA: act as a user for at most 30 minutes (access token with `act`, no refresh)."""
        serializer = s.ImpersonateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target, pair = staff.impersonation_start(
            actor=actor_of(request),
            user_id=serializer.validated_data["user_id"],
            reason=serializer.validated_data["reason"],
        )
        return Response({**pair.as_response(), "user": s.UserSerializer(target).data})


class ImpersonateStopView(APIView):
    @extend_schema(request=None, responses={204: None, **ERRORS}, tags=["staff"])
    def post(self, request):
        """End the impersonation session this token belongs to."""
        body_refuse(request)
        staff.impersonation_stop(actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
