"""Health endpoints (no auth): liveness, readiness with per-part checks; Prometheus metrics behind a token."""

import hmac
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import Http404, HttpResponse
from django_prometheus.exports import ExportToDjangoView
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


# Probes run outside ATOMIC_REQUESTS (@transaction.non_atomic_requests): opening the request
# transaction connects to the database, so an outage would turn /health and /health/live into
# 500s and /health/ready's 503 naming "database" into an anonymous 500.
@transaction.non_atomic_requests
@extend_schema(responses={200: _status_schema}, tags=["health"])
@api_view(["GET"])
@_no_auth
def health(request):
    """Answer that the process is up."""
    return Response({"status": "healthy"})


@transaction.non_atomic_requests
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


# A probe must answer well before the orchestrator's own timeout.
BROKER_TIMEOUT_SECONDS = 2


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "skipped"
    from celery import current_app as app  # the project app (config/__init__.py loads it); core does not import config

    # The URL is read from settings now (not the app's cached conf) so the probe checks
    # the broker the settings name; one attempt, no retry sleeps, bounded connect time.
    broker = app.connection_for_write(
        settings.CELERY_BROKER_URL,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
        transport_options={"socket_connect_timeout": BROKER_TIMEOUT_SECONDS},
    )
    with broker as conn:
        conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    return "ok"


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


def readiness(names: list[str] | None = None) -> dict[str, str]:
    """Run the named dependency checks (all by default): {name: "ok" | "skipped" | "error"}."""
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        if names is not None and name not in names:
            continue
        try:
            checks[name] = check()
        except Exception as exc:  # any failure of a dependency means "not ready"
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            checks[name] = "error"
    return checks


@transaction.non_atomic_requests
@extend_schema(responses={200: _ready_schema, 503: _ready_schema}, tags=["health"])
@api_view(["GET"])
@_no_auth
def health_ready(request):
    """Readiness: database, cache and (when not eager) the Celery broker; 503 naming what failed."""
    checks = readiness()
    failing = [name for name, result in checks.items() if result == "error"]
    body = {"status": "unavailable" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    return Response(body, status=503 if failing else 200)


def metrics(request):
    """Prometheus metrics; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`.

    Metrics name every view and count its traffic and errors: production serves them only to a
    scraper holding the token (prod settings leave /metrics unserved without one).
    """
    token = settings.METRICS_TOKEN
    if token is None:
        raise Http404
    if token:
        given = request.headers.get("Authorization", "").encode()
        # Constant time: the comparison must not tell how much of a guess was right.
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return ExportToDjangoView(request)
