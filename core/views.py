"""Unauthenticated plumbing views: the API root, health probes (liveness, readiness, detailed behind
the metrics token), Prometheus metrics, the API docs (never throttled) and the /api/ catch-all 404.
"""

import hmac
import logging
import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from core.exceptions import handler404, not_found

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


# At most one warning per check per this many seconds per process: during an outage every probe
# fails alike, and the response body already names what failed (issue 19).
READINESS_LOG_SECONDS = 5.0
_readiness_log_lock = threading.Lock()
_readiness_log: dict[str, tuple[float, int]] = {}  # check → (next report, failures held back)


def _readiness_failure_log(name: str, exc: Exception) -> None:
    with _readiness_log_lock:
        now = time.monotonic()
        next_report, held = _readiness_log.get(name, (0.0, 0))
        if now < next_report:
            _readiness_log[name] = (next_report, held + 1)
            return
        _readiness_log[name] = (now + READINESS_LOG_SECONDS, 0)
    logger.warning("readiness check %s failed: %s; %d more since the last report", name, exc.__class__.__name__, held)


def readiness(names: list[str] | None = None) -> dict[str, str]:
    """Run the named dependency checks (all by default): {name: "ok" | "skipped" | "error"}."""
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        if names is not None and name not in names:
            continue
        try:
            checks[name] = check()
        except Exception as exc:  # any failure of a dependency means "not ready"
            _readiness_failure_log(name, exc)
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
    response = Response(body, status=503 if failing else 200)
    # The failed checks were logged above (once per interval): no ERROR line per probe from Django.
    response._has_been_logged = bool(failing)
    return response


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


def _metrics_token_given(request) -> bool:
    """Whether the request carries `Authorization: Bearer <METRICS_TOKEN>` (never true without a token)."""
    token = settings.METRICS_TOKEN
    if not token:
        return False
    given = request.headers.get("Authorization", "").encode()
    # Constant time: the comparison must not tell how much of a guess was right.
    return hmac.compare_digest(given, f"Bearer {token}".encode())


def _timed(check) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # any failure of a dependency is reported, never raised
        logger.warning("detailed health check failed: %s", exc.__class__.__name__)
        result = "error"
    return result, round((time.perf_counter() - started) * 1000, 2)


def _pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


_check_schema = inline_serializer("HealthCheck", {"status": serializers.CharField(), "latency_ms": serializers.FloatField()})
_detailed_schema = inline_serializer(
    "HealthDetailed",
    {
        "status": serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"]),
        "checks": inline_serializer(
            "HealthDetailedChecks",
            {
                "database": _check_schema,
                "cache": _check_schema,
                "broker": _check_schema,
                "migrations": inline_serializer(
                    "HealthMigrations",
                    {"status": serializers.CharField(), "pending": serializers.IntegerField(allow_null=True), "latency_ms": serializers.FloatField()},
                ),
            },
        ),
        "version": serializers.CharField(),
    },
)


@transaction.non_atomic_requests
@extend_schema(
    summary="Detailed health (metrics token)",
    responses={
        200: _detailed_schema,
        404: OpenApiResponse(description="NOT_FOUND: no, or a wrong, metrics token (the route does not exist then)"),
        503: _detailed_schema,
    },
    tags=["health"],
)
@api_view(["GET"])
@_no_auth
def health_detailed(request):
    """Every dependency with its latency, pending migrations and the version; only for `Authorization: Bearer $METRICS_TOKEN`.

    Without the token (or with none configured) the route does not exist (404), in every settings
    module: it names the deployment's dependencies and its migration state.
    """
    if not _metrics_token_given(request):
        raise not_found("Not found.")
    checks = {}
    for name, check in CHECKS.items():
        result, latency = _timed(check)
        checks[name] = {"status": result, "latency_ms": latency}
    pending, latency = _timed(_pending_migrations)
    checks["migrations"] = {
        "status": "error" if pending == "error" else ("pending" if pending else "ok"),
        "pending": None if pending == "error" else pending,
        "latency_ms": latency,
    }
    failing = any(checks[name]["status"] == "error" for name in CHECKS)
    if failing:
        overall = "unhealthy"
    elif checks["migrations"]["status"] != "ok":
        overall = "degraded"
    else:
        overall = "healthy"
    body = {"status": overall, "checks": checks, "version": settings.SPECTACULAR_SETTINGS["VERSION"]}
    return Response(body, status=503 if failing else 200)


_root_schema = inline_serializer(
    "ApiRoot",
    {"name": serializers.CharField(), "version": serializers.CharField(), "docs": serializers.CharField(), "health": serializers.CharField()},
)


@transaction.non_atomic_requests
@extend_schema(summary="API root", responses={200: _root_schema}, tags=["health"])
@api_view(["GET"])
@_no_auth
def root(request):
    """Name and version of the service, and where its docs and health probe are."""
    return Response(
        {
            "name": settings.SPECTACULAR_SETTINGS["TITLE"],
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "docs": reverse("swagger-ui"),
            "health": reverse("health"),
        }
    )


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """The envelope 404 for any unknown route under /api/, whatever DEBUG says (DEBUG's own 404 page is HTML)."""
    return handler404(request)


# --- API docs ---------------------------------------------------------------------------------


class _DocsMixin:
    """The docs are public and never throttled (API.md v1.1): loading them must not eat a client's budget."""

    authentication_classes: list = []
    throttle_classes: list = []


class SchemaView(_DocsMixin, SpectacularAPIView):
    """The OpenAPI 3 schema."""


class SwaggerView(_DocsMixin, SpectacularSwaggerSplitView):
    """Swagger UI (its init script served as a URL, so the CSP needs no inline script)."""


# What ReDoc alone needs beyond the site's CSP: its search runs in a blob: worker, and its sidebar
# shows the Redocly logo from their CDN. Only this page gets them.
REDOC_CSP = {"worker-src": ["blob:"], "img-src": ["https://cdn.redoc.ly"]}


class RedocView(_DocsMixin, SpectacularRedocView):
    """ReDoc, from our own template: no Google Fonts stylesheet (system fonts instead of a third-party request)."""

    template_name = "core/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response._csp_update = REDOC_CSP  # read by csp.middleware.CSPMiddleware
        return response
