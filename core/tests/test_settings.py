"""Settings per environment, checked in fresh interpreters with a clean environment."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "DJANGO_SECRET_KEY": "prod-test-secret-6f1c9e0d4b7a2c8e5f3a1d9b0c7e4f2a8d6b3c1e9f0a7d5b",
    "DJANGO_ALLOWED_HOSTS": "api.example.com,localhost",
    "REDIS_URL": "redis://127.0.0.1:6390/0",  # never contacted: nothing here opens a connection
    "INTEGRATIONS_MASTER_KEYS": "q0sbQ3cN9m8fO1D3Fh2yqk3n9o1Z8v4Z2hHnS3xv0uE=",
}


def run_python(code: str, env: dict, tmp_path) -> subprocess.CompletedProcess:
    """Run Python code from the project directory with only PATH, HOME and `env` set."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}
    return subprocess.run([sys.executable, *code], cwd=settings.BASE_DIR, env=clean, capture_output=True, text=True, timeout=120)


@pytest.fixture
def prod_env(tmp_path) -> dict:
    # A throwaway SQLite file: these checks must never reach a shared database server.
    return {**PROD_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}"}


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "INTEGRATIONS_MASTER_KEYS"])
def test_prod_settings_refuse_to_load_without_required_variables(prod_env, tmp_path, missing):
    env = {name: value for name, value in prod_env.items() if name != missing}

    result = run_python(["-c", "import config.settings.prod"], env, tmp_path)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_prod_settings_pass_the_deploy_checks(prod_env, tmp_path):
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], prod_env, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "debug": s.DEBUG,
    "secret_key": s.SECRET_KEY,
    "jwt_key": s.SIMPLE_JWT["SIGNING_KEY"],
    "formatter": s.LOGGING["handlers"]["console"]["formatter"],
    "cache": s.CACHES["default"]["BACKEND"],
    "eager": s.CELERY_TASK_ALWAYS_EAGER,
    "conn_max_age": s.DATABASES["default"]["CONN_MAX_AGE"],
    "pool": s.DATABASES["default"].get("OPTIONS", {}).get("pool"),
}))
"""


def show_settings(env: dict, tmp_path) -> dict:
    """Load settings in a fresh interpreter and return the interesting values."""
    result = run_python(["-c", SHOW_SETTINGS], env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_prod_settings_harden_and_sign_tokens_with_the_real_secret(prod_env, tmp_path):
    shown = show_settings(prod_env, tmp_path)

    assert shown["debug"] is False
    assert shown["secret_key"] == PROD_ENV["DJANGO_SECRET_KEY"]
    # Not base.py's development default, which anyone can read in the repository.
    assert shown["jwt_key"] == PROD_ENV["DJANGO_SECRET_KEY"]
    assert shown["formatter"] == "json"
    assert shown["cache"] == "django_redis.cache.RedisCache"
    assert shown["eager"] is False


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", PROD_ENV["DJANGO_SECRET_KEY"]), ("a-separate-jwt-key", "a-separate-jwt-key")],
)
def test_prod_jwt_key_can_be_separate_but_never_empty(prod_env, tmp_path, given, expected):
    shown = show_settings({**prod_env, "JWT_SIGNING_KEY": given}, tmp_path)

    assert shown["jwt_key"] == expected


@pytest.mark.parametrize(("pool_size", "expected_pool", "expected_age"), [(None, None, 0), ("7", 7, 0)])
def test_postgres_connections_are_pooled_not_kept_per_thread(prod_env, tmp_path, pool_size, expected_pool, expected_age):
    env = {**prod_env, "DATABASE_URL": "postgres://saas@127.0.0.1:6399/saas", "DATABASE_CONN_MAX_AGE": "60"}
    if pool_size is not None:
        env["DATABASE_POOL_MAX_SIZE"] = pool_size

    shown = show_settings(env, tmp_path)

    # Under ASGI a per-thread persistent connection is never reused: the pool replaces it.
    assert (shown["pool"] or {}).get("max_size") == expected_pool
    assert shown["conn_max_age"] == (expected_age if pool_size else 60)


@pytest.mark.parametrize(("log_json", "formatter"), [(None, "plain"), ("true", "json"), ("false", "plain")])
def test_log_json_switches_the_console_formatter(tmp_path, log_json, formatter):
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.dev"}
    if log_json is not None:
        env["LOG_JSON"] = log_json

    assert show_settings(env, tmp_path)["formatter"] == formatter


SHOW_DEFAULTS = """
import json, django
django.setup()
from django.conf import settings as s
names = ["DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASES", "CACHES", "CELERY_BROKER_URL",
         "CELERY_TASK_ALWAYS_EAGER", "SIMPLE_JWT", "MEDIA_ROOT", "EMAIL_BACKEND", "EMAIL_FILE_PATH",
         "DEFAULT_FROM_EMAIL", "FRONTEND_URL", "CORS_ALLOWED_ORIGINS", "REST_FRAMEWORK", "LOGGING"]
print(json.dumps({name: getattr(s, name) for name in names}, default=str, sort_keys=True))
"""


def env_example_values() -> dict:
    """The active NAME=value lines of .env.example, as docker compose and django-environ read them."""
    values = {}
    for line in (settings.BASE_DIR / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name] = value.strip('"')
    return values


@pytest.mark.parametrize("module", ["config.settings.dev", "config.settings.test"])
def test_env_example_copied_as_is_changes_no_setting(tmp_path, module):
    # config/env.py reads .env for every settings module, tests included.
    env = {"DJANGO_SETTINGS_MODULE": module}

    defaults = run_python(["-c", SHOW_DEFAULTS], env, tmp_path)
    with_example = run_python(["-c", SHOW_DEFAULTS], {**env_example_values(), **env}, tmp_path)

    assert defaults.returncode == 0 and with_example.returncode == 0, defaults.stderr + with_example.stderr
    assert json.loads(with_example.stdout) == json.loads(defaults.stdout)
