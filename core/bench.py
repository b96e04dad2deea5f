"""The benchmark references: the cheapest authenticated DRF view, and a password check alone.

`make bench` (bench/run.py) measures every scenario against the ceiling view, in the same
gunicorn process and the same run, so the ratio shows what our own code costs on top of the
framework; sign-in is measured against `password-check`, the production hasher and nothing
else, served the same way. Mounted under /api/v1/bench/ only when `BENCH_CEILING` is on (never
in production).
"""

from django.contrib.auth.hashers import check_password
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication

_ceiling_schema = inline_serializer("BenchCeiling", {"ok": serializers.BooleanField(), "user_id": serializers.CharField()})


@extend_schema(
    responses={200: _ceiling_schema, 401: OpenApiResponse(description="NOT_AUTHENTICATED / TOKEN_INVALID")},
    tags=["bench"],
)
@api_view(["GET"])
# Plain simplejwt (a signature check and one user lookup), no throttles, no org context:
# the bare framework, which is what every scenario is compared to.
@authentication_classes([JWTAuthentication])
@permission_classes([IsAuthenticated])
@throttle_classes([])
def ceiling(request):
    """Answer a small JSON body to any valid bearer token (benchmark reference)."""
    return Response({"ok": True, "user_id": str(request.user.pk)})


@extend_schema(
    request=inline_serializer("BenchPasswordCheckRequest", {"password": serializers.CharField(), "encoded": serializers.CharField()}),
    responses={200: inline_serializer("BenchPasswordCheck", {"ok": serializers.BooleanField()})},
    tags=["bench"],
)
@api_view(["POST"])
# No authentication, no throttles: the hash a sign-in cannot avoid, served by the same process.
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def password_check(request):
    """Check a password against an encoded hash with the configured hasher (sign-in's reference)."""
    return Response({"ok": check_password(str(request.data.get("password", "")), str(request.data.get("encoded", "")))})


urlpatterns = [path("ceiling", ceiling, name="ceiling"), path("password-check", password_check, name="password-check")]
