"""Security headers: nosniff and Referrer-Policy on API responses, a CSP the docs and admin work under, HSTS in prod."""

import json
import re

import pytest
from django.contrib.staticfiles import finders

from core.tests.test_settings import PROD_ENV, run_python

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


def _csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _inline_scripts(html: str) -> list[str]:
    return [body for attributes, body in SCRIPT_TAG.findall(html) if "src=" not in attributes and body.strip()]


def _script_sources(html: str) -> list[str]:
    return [m for m in re.findall(r'<script[^>]+src="([^"]+)"', html)]


@pytest.mark.parametrize("path", ["/api/v1/auth/setup-status", "/api/v1/users/me", "/health"])
def test_api_responses_carry_nosniff_and_referrer_policy(api_client, db, path):
    response = api_client.get(path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" in response


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc", "/admin/login/"])
def test_html_pages_run_under_a_csp_without_inline_scripts(client, db, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = _csp(response)
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no CDN
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    html = response.content.decode()
    # Every script the page needs comes from a URL the policy allows ('self').
    assert _inline_scripts(html) == []
    for source in _script_sources(html):
        assert source.startswith("/"), source


def test_swagger_ui_init_script_and_assets_are_served_locally(client, db):
    html = client.get("/api/docs").content.decode()
    sources = _script_sources(html)

    init = [source for source in sources if "script" in source.split("?")[-1]]
    assert len(init) == 1
    script = client.get(init[0].replace("&amp;", "&"))
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
    assert "/api/schema" in script.content.decode()
    for source in sources:
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source


def test_redoc_assets_are_served_locally(client, db):
    html = client.get("/api/redoc").content.decode()

    for source in _script_sources(html):
        assert source.startswith("/static/") and finders.find(source.removeprefix("/static/")), source


def test_prod_sends_hsts(tmp_path):
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, 'csp.middleware.CSPMiddleware' in s.MIDDLEWARE]))"
    )
    env = {**PROD_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}"}

    result = run_python(["-c", code], env, tmp_path)

    assert result.returncode == 0, result.stderr
    hsts_seconds, subdomains, redirect, session_secure, csrf_secure, csp = json.loads(result.stdout.splitlines()[-1])
    assert hsts_seconds >= 60 * 60 * 24 * 365 and subdomains and redirect and session_secure and csrf_secure and csp
