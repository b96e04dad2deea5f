"""Health endpoints (no auth): liveness, readiness with per-part checks."""
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

logger = logging.getLogger(__name__)

_status_schema = inline_serializer("HealthStatus", {"status": serializers.CharField()})
_ready_schema = inline_serializer(
    "HealthReady",
    {
        "status": serializers.CharField(),
        "checks": serializers.DictField(child=serializers.CharField()),
        "failing": serializers.ListField(child=serializers.CharField(), required=False),
    },
)


def _no_auth(view):
    return authentication_classes([])(permission_classes([AllowAny])(throttle_classes([])(view)))


@extend_schema(responses={200: _status_schema}, tags=["health"])
@api_view(["GET"])
@_no_auth
def health(request):
    """Answer that the process is up."""
    return Response({"status": "healthy"})


@extend_schema(responses={200: _status_schema}, tags=["health"])
@api_view(["GET"])
@_no_auth
def health_live(request):
    """Liveness: the process serves requests."""
    return Response({"status": "alive"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_cache() -> str:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value written")
    cache.delete(key)
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "skipped"
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


_CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


@extend_schema(responses={200: _ready_schema, 503: _ready_schema}, tags=["health"])
@api_view(["GET"])
@_no_auth
def health_ready(request):
    """Readiness: database, cache and (when not eager) the Celery broker; 503 naming what failed."""
    checks: dict[str, str] = {}
    for name, check in _CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # any failure of a dependency means "not ready"
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            checks[name] = "error"
    failing = [name for name, result in checks.items() if result == "error"]
    body = {"status": "unavailable" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    return Response(body, status=503 if failing else 200)
