"""Deployment files: they parse, and they cover every setting the application reads."""

import os
import re
import runpy
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# env("X"), env.bool("X"), env.int("X"), env.list("X"), env.db("X"), env.path("X"), ...
ENV_READ = re.compile(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def variables_read_by_settings() -> set[str]:
    """Every environment variable named in config/settings/*.py."""
    names: set[str] = set()
    for path in (ROOT / "config" / "settings").glob("*.py"):
        names.update(ENV_READ.findall(path.read_text()))
    return names


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_settings_read_the_documented_contract_names():
    # Sanity check of the scan itself: the names API.md promises deployers are found.
    promised = {
        "DJANGO_SECRET_KEY",
        "DJANGO_DEBUG",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "EMAIL_BACKEND",
        "EMAIL_FILE_PATH",
        "EMAIL_URL",
        "DEFAULT_FROM_EMAIL",
        "FRONTEND_URL",
        "CORS_ALLOWED_ORIGINS",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
        "INTEGRATIONS_MASTER_KEYS",
        "THROTTLE_USER",
        "THROTTLE_ANON",
    }

    assert promised <= variables_read_by_settings()


# `NAME=value`, or `# NAME=value` for a variable deliberately left unset.
ENV_EXAMPLE_LINE = re.compile(r"(# )?([A-Z][A-Z0-9_]*)=")


def env_example_entries() -> dict[str, tuple[bool, bool]]:
    """{name: (set, has a description line above)} for every variable in .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    entries = {}
    for index, line in enumerate(lines):
        match = ENV_EXAMPLE_LINE.match(line)
        if match:
            above = lines[index - 1] if index else ""
            described = above.startswith("# ") and not ENV_EXAMPLE_LINE.match(above)
            entries[match.group(2)] = (match.group(1) is None, described)
    return entries


def test_env_example_lists_every_variable_with_a_comment():
    entries = env_example_entries()

    missing = variables_read_by_settings() - set(entries)
    assert not missing, f".env.example lacks {sorted(missing)}"
    assert not [name for name, (_, described) in entries.items() if not described]


def test_compose_has_the_services_with_their_images(compose):
    services = compose["services"]

    assert {"postgres", "redis", "web", "asgi", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_compose_app_containers_get_every_variable_the_settings_read(compose):
    for name in ("web", "asgi", "worker", "beat", "migrate"):
        environment = compose["services"][name]["environment"]

        assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.prod"
        missing = variables_read_by_settings() - set(environment)
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_compose_secrets_have_no_defaults(compose):
    environment = compose["services"]["web"]["environment"]

    assert ":?" in environment["DJANGO_SECRET_KEY"]
    assert ":?" in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]


def test_compose_web_migrates_first_and_waits_for_healthy_stores(compose):
    services = compose["services"]
    web = services["web"]

    assert "gunicorn" in web["command"]
    assert web["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]


def test_compose_celery_processes(compose):
    services = compose["services"]

    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]


def test_compose_long_running_services_have_healthchecks(compose):
    for name in ("postgres", "redis", "web", "asgi", "worker", "beat"):
        healthcheck = compose["services"][name]["healthcheck"]

        assert healthcheck["test"] and not healthcheck.get("disable")


def test_gunicorn_config_reads_its_environment(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "4")

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert config["workers"] == 4
    assert config["bind"] == "0.0.0.0:8000"
    assert "{x-request-id}o" in config["access_log_format"]


def test_wsgi_serves_http_and_an_asgi_service_serves_websockets_and_streams(compose, monkeypatch):
    """Issue 17's server comparison: WSGI serves HTTP fastest; ASGI keeps /ws and the AI streams (operations.md)."""
    monkeypatch.delenv("GUNICORN_WORKER_CLASS", raising=False)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    default = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    monkeypatch.setenv("GUNICORN_WORKER_CLASS", compose["services"]["asgi"]["environment"]["GUNICORN_WORKER_CLASS"])
    asgi = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert default["worker_class"] == "core.wsgi_worker.ThreadWorker" and default["threads"] == 1
    assert compose["services"]["web"]["command"][:2] == ["gunicorn", "config.wsgi:application"]
    assert "config.wsgi:application" in (ROOT / "Dockerfile").read_text().splitlines()[-1]
    assert asgi["worker_class"] == "core.asgi_worker.UvicornWorker"
    assert compose["services"]["asgi"]["command"][:2] == ["gunicorn", "config.asgi:application"]
    assert compose["services"]["asgi"]["ports"] == ["127.0.0.1:${ASGI_PORT:-8001}:8000"]
    assert compose["services"]["asgi"]["depends_on"] == compose["services"]["web"]["depends_on"]
    # The split the docs give (WSGI for HTTP, ASGI for /ws and the AI streams) routes both at the proxy.
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "location /ws" in operations and "location /api/v1/ai/" in operations


def test_gunicorn_shares_metrics_between_workers_without_side_effects_on_import(monkeypatch, tmp_path):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))

    config["on_starting"](server=None)

    assert list(metrics_dir.iterdir()) == []
    assert callable(config["child_exit"])


def test_dockerfile_builds_a_non_root_gunicorn_image():
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [line.split(maxsplit=1) for line in dockerfile.splitlines() if line and line[0] not in "# "]
    keywords = [parts[0] for parts in instructions]

    assert instructions[0] == ["FROM", "python:3.11-slim"]
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    user = instructions[keywords.index("USER")][1]
    assert user not in {"root", "0"}
    assert keywords.index("USER") < keywords.index("CMD")
    assert "gunicorn" in instructions[keywords.index("CMD")][1]


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())

    assert {".env", ".venv", ".git", "db.sqlite3"} <= ignored


def test_readme_documents_every_variable_of_env_example():
    # The name is historical: the full variable reference moved from README.md to
    # docs/configuration.md (README.md links to it), and that file must name every variable.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), re.MULTILINE))
    reference = (root / "docs" / "configuration.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in reference)
    assert names and missing == [], f"docs/configuration.md does not document: {missing}"
    assert "docs/configuration.md" in (root / "README.md").read_text(), "README.md must link docs/configuration.md"
