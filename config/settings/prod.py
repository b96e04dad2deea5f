"""Production: hardening only. Refuses to start without a secret key, hosts and a database."""

from .base import *  # noqa: F401,F403
from .base import LOGGING, SIMPLE_JWT, env

DEBUG = False
BENCH_CEILING = False  # the benchmark-only view is never served in production
# /metrics only for a scraper with the token; without one it is not served at all (None).
METRICS_TOKEN = env("METRICS_TOKEN", default="") or None
SECRET_KEY = env("DJANGO_SECRET_KEY")
# base.py derived the JWT key from its development default; sign with the real secret instead.
# `or`: an empty JWT_SIGNING_KEY (as compose passes when unset) must never become the key.
SIMPLE_JWT["SIGNING_KEY"] = env("JWT_SIGNING_KEY", default="") or SECRET_KEY
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
# Tokens' `iss`: JWT_ISSUER, else https:// and the first allowed host (the API's public name).
SIMPLE_JWT["ISSUER"] = (env("JWT_ISSUER", default="") or f"https://{ALLOWED_HOSTS[0].lstrip('.')}").rstrip("/")
_database_url = env("DATABASE_URL")  # no default: production never falls back to SQLite
# No default either: throttles and session revocation need one cache shared by every process.
_redis_url = env("REDIS_URL")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics"]
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

LOGGING["handlers"]["console"]["formatter"] = "json"

# Integration credentials at rest need real master keys: no key derived from the secret key here.
INTEGRATIONS_MASTER_KEYS = env.list("INTEGRATIONS_MASTER_KEYS", default=[])
if not INTEGRATIONS_MASTER_KEYS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Set INTEGRATIONS_MASTER_KEYS (Fernet keys) in production.")
