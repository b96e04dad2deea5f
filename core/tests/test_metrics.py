"""/metrics: Prometheus' text format, behind a bearer token where one is set; unserved in production without one."""

import pytest

pytestmark = pytest.mark.django_db


def test_open_without_a_token_in_development(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics")

    assert response.status_code == 200
    assert b"django_http_requests" in response.content


def test_a_token_is_required_once_set(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secreT")
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert right.status_code == 200 and b"django_http_requests" in right.content


def test_production_without_a_token_serves_no_metrics(client, settings):
    settings.METRICS_TOKEN = None  # what config.settings.prod sets when METRICS_TOKEN is empty

    response = client.get("/metrics")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_prod_settings_close_metrics_without_a_token(monkeypatch):
    import importlib
    import sys

    for name, value in {
        "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "example.com", "DATABASE_URL": "postgres://u@h/db",
        "REDIS_URL": "redis://h:6379/0", "INTEGRATIONS_MASTER_KEYS": "Wn4nYg2lNwC8rV3Fh1H8k3qS2L8m1wX7y5Q0b9Zc6tE=",
        "METRICS_TOKEN": "",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    sys.modules.pop("config.settings.prod", None)
    prod = importlib.import_module("config.settings.prod")
    try:
        assert prod.METRICS_TOKEN is None
    finally:
        sys.modules.pop("config.settings.prod", None)
