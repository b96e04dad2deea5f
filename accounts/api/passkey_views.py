"""Passkey endpoints: thin views over accounts.passkeys."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import passkeys, staff
from accounts.api import passkey_serializers as ps
from accounts.api import serializers as s
from accounts.api.views import ERRORS, non_atomic, sign_in_body
from core.actor import actor_of
from core.serializers import body_refuse

_OPTIONS = OpenApiResponse(description="PublicKeyCredentialCreationOptions / RequestOptions as JSON (pass to the browser's parse*OptionsFromJSON).")


class PasskeyRegisterBeginView(APIView):
    permission_classes = [IsAuthenticated, staff.NotImpersonating]
    throttle_scope = "mfa"

    @extend_schema(
        request=None,
        responses={
            200: _OPTIONS,
            403: OpenApiResponse(description="MFA_REQUIRED / INSUFFICIENT_PERMISSIONS (staff, impersonation)"),
            409: ERRORS[400],
            **ERRORS,
        },
        tags=["mfa"],
    )
    def post(self, request):
        """Start registering a passkey: WebAuthn creation options for `navigator.credentials.create`."""
        body_refuse(request)
        return Response(passkeys.passkey_register_begin(actor=actor_of(request)))


class PasskeyRegisterCompleteView(APIView):
    permission_classes = [IsAuthenticated, staff.NotImpersonating]
    throttle_scope = "mfa"

    @extend_schema(request=ps.PasskeyRegisterCompleteSerializer, responses={201: ps.PasskeyMethodSerializer, 409: ERRORS[400], **ERRORS}, tags=["mfa"])
    def post(self, request):
        """Finish the registration this session began: the passkey, listed in `auth/mfa` from now on."""
        serializer = ps.PasskeyRegisterCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = passkeys.passkey_register_complete(
            actor=actor_of(request),
            credential=serializer.validated_data["credential"],
            name=serializer.validated_data.get("name", ""),
        )
        return Response(ps.PasskeyMethodSerializer(passkeys.passkey_as_method(device)).data, status=status.HTTP_201_CREATED)


class PasskeyLoginBeginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "login"

    @extend_schema(request=ps.PasskeyLoginBeginSerializer, responses={200: ps.PasskeyLoginBeginResponseSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Start a passwordless sign-in: a single-use `challenge_id` and request options."""
        serializer = ps.PasskeyLoginBeginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(passkeys.passkey_login_begin(email=serializer.validated_data.get("email") or None))


@non_atomic
class PasskeyLoginCompleteView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "login"

    @extend_schema(request=ps.PasskeyLoginCompleteSerializer, responses={200: s.LoginResponseSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Sign in with a passkey: tokens (session `mfa: true`), or the org selection asked for."""
        serializer = ps.PasskeyLoginCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = passkeys.passkey_login_complete(
            request=request,
            actor=actor_of(request),
            challenge_id=data["challenge_id"],
            credential=data["credential"],
            organization_id=data.get("organization_id"),
            org_selection=data.get("org_selection", False),
        )
        return Response(sign_in_body(result))


class PasskeyMfaBeginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "mfa"

    @extend_schema(request=ps.PasskeyMfaBeginSerializer, responses={200: _OPTIONS, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Answer a sign-in's `mfa_required` with a passkey: request options bound to that `mfa_token`."""
        serializer = ps.PasskeyMfaBeginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(passkeys.passkey_challenge_begin(mfa_token=serializer.validated_data["mfa_token"]))


@non_atomic
class PasskeyMfaCompleteView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "mfa"

    @extend_schema(request=ps.PasskeyMfaCompleteSerializer, responses={200: s.LoginResponseSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        """Complete an MFA sign-in with a passkey assertion (tokens, or the org selection asked for)."""
        serializer = ps.PasskeyMfaCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = passkeys.passkey_challenge_complete(
            mfa_token=serializer.validated_data["mfa_token"],
            credential=serializer.validated_data["credential"],
            actor=actor_of(request),
        )
        return Response(sign_in_body(result))
