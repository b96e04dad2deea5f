"""The benchmark ceiling (core/bench.py): mounted only when BENCH_CEILING is on, and a real authenticated view."""

import importlib

import pytest
from django.urls import clear_url_caches, resolve

from conftest import client_for
from core.http import API_NOT_FOUND

URL = "/api/v1/bench/ceiling"


def mounted_urlconf(settings, enabled: bool):
    import config.urls

    settings.BENCH_CEILING = enabled
    module = importlib.reload(config.urls)
    clear_url_caches()
    return module


@pytest.fixture
def ceiling_on(settings):
    """The project's URL map rebuilt with BENCH_CEILING on; rebuilt as before afterwards."""
    mounted_urlconf(settings, True)
    yield
    mounted_urlconf(settings, False)


def test_off_by_default(settings):
    from config.settings import base

    assert base.BENCH_CEILING is False
    # Unmounted, the path is one more unknown /api/ path (the envelope's 404), never the ceiling view.
    assert resolve(URL).url_name == API_NOT_FOUND


@pytest.mark.django_db
def test_answers_a_valid_bearer_token(ceiling_on, user):
    client = client_for(user)

    response = client.get(URL)

    assert resolve(URL).url_name == "ceiling"
    assert response.status_code == 200
    assert response.json() == {"ok": True, "user_id": str(user.id)}


@pytest.mark.django_db
def test_refuses_a_request_without_a_token(ceiling_on, api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"NOT_AUTHENTICATED", "AUTHENTICATION_FAILED"}


@pytest.mark.django_db
def test_password_check_runs_the_configured_hasher(ceiling_on, api_client):
    from django.contrib.auth.hashers import make_password

    encoded = make_password("Correct-horse-battery")

    right = api_client.post("/api/v1/bench/password-check", {"password": "Correct-horse-battery", "encoded": encoded}, format="json")
    wrong = api_client.post("/api/v1/bench/password-check", {"password": "wrong", "encoded": encoded}, format="json")

    assert resolve("/api/v1/bench/password-check").url_name == "password-check"
    assert (right.status_code, right.json()) == (200, {"ok": True})
    assert (wrong.status_code, wrong.json()) == (200, {"ok": False})
