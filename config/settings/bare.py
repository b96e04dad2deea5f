"""The bare ceiling of `make bench` (issue 17; config/bare/): the least Django that can answer an authenticated read.

No middleware; only auth, contenttypes, DRF, simplejwt and config.bare; Django's stock
handlers, logging and JSON renderer. The same database (plain Django backend, same pool and
connection settings, no transaction per request: a single SELECT needs none), the same cache
settings and the same JWT settings as the project, so the project's access tokens authenticate
here and the user row comes from the same table. Never used outside the benchmarks.
"""

import copy
import os

from django.core.exceptions import ImproperlyConfigured

from .base import ALLOWED_HOSTS, CACHES, DATABASES, DEBUG, SECRET_KEY, SIMPLE_JWT, TIME_ZONE, USE_TZ  # noqa: F401

SIMPLE_JWT = {**SIMPLE_JWT}
if SIMPLE_JWT["ALGORITHM"] != "HS256":
    # The project signs with a key it keeps in its database (accounts/signing_keys.py); plain simplejwt
    # verifies with its public half, given as PEM by whoever starts this server (bench/harness.py).
    # Bench-only (read straight from the environment: no deployment sets it).
    SIMPLE_JWT["VERIFYING_KEY"] = os.environ.get("JWT_VERIFYING_KEY", "")
    if not SIMPLE_JWT["VERIFYING_KEY"]:
        raise ImproperlyConfigured("The bare ceiling needs JWT_VERIFYING_KEY (the project's current public key, PEM).")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_simplejwt",
    "config.bare",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "config.bare.urls"
AUTH_USER_MODEL = "bare.BareUser"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = copy.deepcopy(DATABASES)
# The project wraps the backend (Prometheus' query counters, the pool's fast-fail); the bare ceiling
# uses Django's own.
DATABASES["default"]["ENGINE"] = {
    "core.db.postgresql": "django.db.backends.postgresql",
    "django_prometheus.db.backends.sqlite3": "django.db.backends.sqlite3",
}.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
DATABASES["default"]["ATOMIC_REQUESTS"] = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [],
}
