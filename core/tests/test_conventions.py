"""Request conventions and developer experience (API.md v1.1 "Request conventions added", "Pinned details").

The org header alias, unknown body fields on body-less endpoints, the /api/ catch-all 404, the API
root, /health/detailed, docs never throttled, ReDoc's CSP, and what the schema says about them.
"""

import pytest
import yaml
from django.core.management import call_command

from accounts.models import UserSession
from conftest import client_for
from organizations.tests.factories import OrganizationFactory

PROVIDERS = "/api/v1/integrations/providers"


def error_of(response) -> dict:
    return response.json()["error"]


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    target = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    return yaml.safe_load(target.read_text())


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


# --- X-Current-Org, an alias of X-Org-ID ------------------------------------------------------


@pytest.fixture
def member_client(org_factory):
    """A viewer of `org` whose token's active org is that org: (client, org)."""
    organization, members = org_factory(roles=("owner", "viewer"))
    return client_for(members["viewer"].user, organization), organization


@pytest.mark.django_db
def test_x_current_org_names_the_org_like_x_org_id(member_client):
    client, organization = member_client
    foreign = OrganizationFactory()

    # when
    mine = client.get(PROVIDERS, HTTP_X_CURRENT_ORG=str(organization.id))
    theirs = client.get(PROVIDERS, HTTP_X_CURRENT_ORG=str(foreign.id))

    # then: the header is read (another org than the token's is refused as X-Org-ID's would be)
    assert mine.status_code == 200, mine.content
    assert theirs.status_code == 403 and error_of(theirs)["code"] == "INVALID_ORG_CONTEXT"


@pytest.mark.django_db
def test_both_org_headers_must_agree(member_client):
    client, organization = member_client
    foreign = OrganizationFactory()

    same = client.get(PROVIDERS, HTTP_X_ORG_ID=str(organization.id), HTTP_X_CURRENT_ORG=str(organization.id))
    different = client.get(PROVIDERS, HTTP_X_ORG_ID=str(organization.id), HTTP_X_CURRENT_ORG=str(foreign.id))

    assert same.status_code == 200
    assert different.status_code == 400 and error_of(different)["code"] == "VALIDATION_ERROR"
    assert set(error_of(different)["details"]) == {"X-Org-ID", "X-Current-Org"}


@pytest.mark.django_db
def test_a_malformed_x_current_org_is_400_naming_it(member_client):
    client, _ = member_client

    response = client.get(PROVIDERS, HTTP_X_CURRENT_ORG="not-a-uuid")

    assert response.status_code == 400 and "X-Current-Org" in error_of(response)["details"]


def test_cors_lets_browsers_send_the_org_headers(client, db, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.test"]

    response = client.options(
        PROVIDERS,
        HTTP_ORIGIN="https://app.example.test",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, x-org-id, x-current-org",
    )

    allowed = response["Access-Control-Allow-Headers"].lower()
    assert "x-org-id" in allowed and "x-current-org" in allowed


def test_schema_documents_both_org_headers_together(schema):
    for path, method, operation in operations(schema):
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert ("X-Org-ID" in names) == ("X-Current-Org" in names), f"{method} {path}"
    assert {"X-Org-ID", "X-Current-Org"} <= {p["name"] for p in schema["paths"][PROVIDERS]["get"]["parameters"]}


# --- unknown body fields where the endpoint takes no body -------------------------------------


@pytest.mark.django_db
def test_a_body_sent_to_logout_is_refused_and_nothing_happens(auth_client):
    # when
    response = auth_client.post("/api/v1/auth/logout", {"everywhere": True}, format="json")

    # then
    assert response.status_code == 400 and "everywhere" in error_of(response)["details"]
    assert UserSession.objects.filter(user=auth_client.user, revoked_at__isnull=True).exists()
    assert auth_client.post("/api/v1/auth/logout", {}, format="json").status_code == 204


@pytest.mark.django_db
def test_leave_refuses_unknown_fields(member_client):
    client, organization = member_client

    response = client.post(f"/api/v1/orgs/{organization.id}/leave", {"reason": "bored"}, format="json")

    assert response.status_code == 400 and "reason" in error_of(response)["details"]
    assert organization.memberships.filter(user=client.user).exists()


# --- routes: the /api/ catch-all and the root -------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/nothing-here"), ("post", "/api/v1/nothing/here/"), ("delete", "/api/v2/orgs"), ("get", "/api/")],
)
def test_unknown_api_routes_answer_the_envelope_404(client, db, settings, debug, method, path):
    settings.DEBUG = debug

    response = getattr(client, method)(path, content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert error_of(response)["code"] == "NOT_FOUND"


def test_known_routes_still_win_over_the_catch_all(client, db):
    assert client.get("/api/v1/auth/setup-status").status_code == 200
    assert client.get("/api/v1/auth/setup-status/").status_code == 200


def test_root_names_the_service_and_points_to_docs_and_health(client, db):
    response = client.get("/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"name", "version", "docs", "health"}
    assert body["docs"] == "/api/docs" and body["health"] == "/health"
    assert client.get(body["docs"]).status_code == 200 and client.get(body["health"]).status_code == 200


# --- /health/detailed -------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", None])
def test_health_detailed_does_not_exist_without_a_metrics_token(client, db, settings, token):
    settings.METRICS_TOKEN = token

    response = client.get("/health/detailed", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", "s3cret-metrics", "Bearer s3cret-metrics-and-more"])
def test_health_detailed_is_404_without_the_right_token(client, db, settings, header):
    settings.METRICS_TOKEN = "s3cret-metrics"
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get("/health/detailed", **extra)

    assert response.status_code == 404
    assert "checks" not in response.content.decode()


def test_health_detailed_reports_every_dependency_with_latency(client, db, settings):
    settings.METRICS_TOKEN = "s3cret-metrics"
    settings.CELERY_TASK_ALWAYS_EAGER = True

    response = client.get("/health/detailed", HTTP_AUTHORIZATION="Bearer s3cret-metrics")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["version"]
    checks = body["checks"]
    assert set(checks) == {"database", "cache", "broker", "migrations"}
    assert checks["database"]["status"] == "ok" and checks["cache"]["status"] == "ok"
    assert checks["broker"]["status"] == "skipped"
    assert checks["migrations"]["status"] == "ok" and checks["migrations"]["pending"] == 0
    assert all(isinstance(check["latency_ms"], float) and check["latency_ms"] >= 0 for check in checks.values())


def test_health_detailed_names_a_failing_dependency_with_503(client, db, settings, monkeypatch):
    from core import views

    settings.METRICS_TOKEN = "s3cret-metrics"

    def cache_down():
        raise ConnectionError("cache unreachable")

    monkeypatch.setitem(views.CHECKS, "cache", cache_down)

    response = client.get("/health/detailed", HTTP_AUTHORIZATION="Bearer s3cret-metrics")

    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy" and response.json()["checks"]["cache"]["status"] == "error"


def test_health_detailed_shows_pending_migrations_as_degraded(client, db, settings, monkeypatch):
    from core import views

    settings.METRICS_TOKEN = "s3cret-metrics"
    monkeypatch.setattr(views, "_pending_migrations", lambda: 2)

    body = client.get("/health/detailed", HTTP_AUTHORIZATION="Bearer s3cret-metrics").json()

    assert body["status"] == "degraded" and body["checks"]["migrations"] == {**body["checks"]["migrations"], "status": "pending", "pending": 2}


# --- the docs: never throttled, ReDoc's CSP ---------------------------------------------------


@pytest.fixture
def tight_throttles(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/min", "user": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.mark.parametrize("path", ["/api/schema", "/api/docs", "/api/docs?script=", "/api/redoc"])
def test_docs_are_never_throttled(client, db, tight_throttles, path):
    statuses = [client.get(path).status_code for _ in range(10)]

    assert statuses == [200] * 10


def test_the_api_itself_is_still_throttled(client, db, tight_throttles):
    statuses = [client.get("/api/v1/auth/setup-status").status_code for _ in range(5)]

    assert statuses[:3] == [200] * 3 and statuses[-1] == 429


def _csp(response) -> dict[str, list[str]]:
    directives = [part.strip().split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {name: values for name, *values in directives}


def test_redoc_alone_gets_its_worker_and_logo_sources(client, db):
    redoc = client.get("/api/redoc")
    swagger = client.get("/api/docs")

    redoc_policy, swagger_policy = _csp(redoc), _csp(swagger)
    assert "blob:" in redoc_policy["worker-src"] and "https://cdn.redoc.ly" in redoc_policy["img-src"]
    assert "blob:" not in swagger_policy["worker-src"] and "https://cdn.redoc.ly" not in swagger_policy["img-src"]
    assert redoc_policy["script-src"] == ["'self'"]


def test_redoc_page_fetches_nothing_the_policy_refuses(client, db):
    html = client.get("/api/redoc").content.decode()

    # drf-spectacular's own page links Google Fonts: a style-src (and font-src) violation.
    assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html
    assert "redoc.standalone.js" in html


# --- the schema -------------------------------------------------------------------------------


def test_security_requirements_are_alternatives(schema):
    """Bearer OR the OAuth2 password form OR an API key: never two schemes in one requirement (that means both)."""
    for path, method, operation in operations(schema):
        if path.startswith("/internal/"):
            continue  # the internal API needs both of its headers, on purpose
        for requirement in operation.get("security", []):
            assert len(requirement) <= 1, f"{method} {path}: {requirement}"
    provider_security = schema["paths"][PROVIDERS]["get"]["security"]
    assert {"bearerAuth": []} in provider_security and {"apiKeyAuth": []} in provider_security


def test_every_operation_has_a_readable_summary(schema):
    missing = [f"{method} {path}" for path, method, operation in operations(schema) if not operation.get("summary")]
    too_long = [operation["summary"] for _, _, operation in operations(schema) if len(operation.get("summary", "")) > 80]

    assert not missing and not too_long
    assert schema["paths"]["/api/v1/auth/logout"]["post"]["summary"] == "Revoke the current session"


def test_active_organization_has_a_type(schema):
    components = schema["components"]["schemas"]
    me = components["Me"]["properties"]["active_organization"]
    ref = me.get("$ref") or next(item["$ref"] for item in me.get("allOf", []) + me.get("oneOf", []) + me.get("anyOf", []) if "$ref" in item)
    target = components[ref.rsplit("/", 1)[-1]]
    assert {"id", "name", "slug", "role"} <= set(target["properties"])


def test_providers_catalog_is_a_data_list(schema, member_client):
    client, _ = member_client

    body = client.get(PROVIDERS).json()

    assert set(body) == {"data"} and body["data"] and {"key", "name", "auth_type", "scopes"} <= set(body["data"][0])
    response_schema = schema["paths"][PROVIDERS]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    component = schema["components"]["schemas"][response_schema["$ref"].rsplit("/", 1)[-1]]
    assert set(component["properties"]) == {"data"}


# --- settings modules: dev (no broker) and prod ---------------------------------------------


def test_dev_without_a_broker_uses_a_broker_url_kombu_does_not_warn_about(tmp_path):
    from core.tests.test_settings import run_python

    code = (
        "import django, logging; django.setup(); from django.conf import settings as s; from kombu import Connection; "
        "logging.basicConfig(level=logging.WARNING); c = Connection(s.CELERY_BROKER_URL); c._info(); "
        "print(s.CELERY_TASK_ALWAYS_EAGER, c.transport_cls)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.dev", "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}"}

    result = run_python(["-c", code], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "memory"]
    assert "No hostname was supplied" not in result.stderr


@pytest.mark.parametrize("module", ["config.settings.dev", "config.settings.prod"])
def test_health_detailed_is_404_without_the_token_in_every_settings_module(tmp_path, module):
    from core.tests.test_settings import PROD_ENV, run_python

    code = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/health/detailed', secure=True, HTTP_HOST='localhost'); print(r.status_code)"
    )
    env = {**PROD_ENV, "DJANGO_SETTINGS_MODULE": module, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    result = run_python(["-c", code], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "404"
