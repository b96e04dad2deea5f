"""Test settings: fast hashing, in-memory email, eager Celery; PostgreSQL/Redis when their URLs are set."""

import os

from .base import *  # noqa: F401,F403
from .base import CACHES, REDIS_URL, REST_FRAMEWORK

DEBUG = False
# Argon2 stays the hasher (the code path is the production one) with cheap parameters.
PASSWORD_HASHERS = ["core.testing.FastArgon2PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://localhost/"

if REDIS_URL:
    # Each xdist worker gets its own Redis database so flushing one never touches another.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db_index = 1 + int(worker[2:] or 0) if worker.startswith("gw") else 1
    base_url = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL
    CACHES["default"]["LOCATION"] = f"{base_url}/{db_index}"

# Throttling is exercised by its own tests with explicit rates; the rest run unthrottled.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "user": "10000/min",
        "anon": "10000/min",
        "login": "10000/min",
        "password_reset": "10000/min",
        "mfa": "10000/min",
    },
}
FRONTEND_URL = "https://app.example.test"
SOCIALACCOUNT_PROVIDERS = {
    "google": {
        **SOCIALACCOUNT_PROVIDERS["google"],  # noqa: F405
        "APP": {"client_id": "test-google-client-id", "secret": "test-google-secret"},
    }
}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# No collectstatic in tests: the manifest storage would refuse unknown files.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # Plain backend in tests: an in-memory database per xdist worker (pytest-django only
    # recognises Django's own SQLite engine for that).
    DATABASES["default"]["ENGINE"] = "django.db.backends.sqlite3"  # noqa: F405
    # dj-stripe's migrations cost ~100 s of CPU (state rendering) per test database: on SQLite
    # its tables are built from its models instead. PostgreSQL runs every migration (its
    # foreign keys to our tables need them in order), and CI migrates a fresh SQLite file too.
    MIGRATION_MODULES = {"djstripe": None}

# Live events in tests go through the in-process channel layer, even when REDIS_URL is set:
# WebsocketCommunicator and the publishing code share one event loop per test.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
