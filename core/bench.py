"""The benchmark ceiling: the cheapest authenticated DRF view this server can answer.

`make bench` (bench/run.py) measures every scenario against this view, in the same gunicorn
process and the same run, so the ratio shows what our own code costs on top of the framework.
Mounted at /api/v1/bench/ceiling only when `BENCH_CEILING` is on (never in production).
"""
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import IsAuthenticated
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


urlpatterns = [path("ceiling", ceiling, name="ceiling")]
