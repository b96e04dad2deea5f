"""Test-only URL map: the real one plus views that fail or log on purpose."""

import logging

from django.http import HttpResponse
from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns

logger = logging.getLogger("core.tests.views")
SECRET_TEXT = "s3cr3t-internal-detail"


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def drf_boom(request):
    """Fail inside a DRF view."""
    raise RuntimeError(SECRET_TEXT)


def django_boom(request):
    """Fail inside a plain Django view (Django's handler500 answers)."""
    raise RuntimeError(SECRET_TEXT)


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def log_something(request):
    """Write one log line while serving a request."""
    logger.warning("inside a request")
    return Response({"ok": True})


def plain_ok(request):
    """Answer 200 without DRF."""
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/test/drf-boom", drf_boom),
    path("test/django-boom", django_boom),
    path("api/v1/test/log", log_something),
    path("test/plain", plain_ok),
    *project_urlpatterns,
]
