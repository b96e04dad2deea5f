from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Registers the system checks and the OpenAPI extensions (drf-spectacular finds them by class creation).
        from core import checks, schema  # noqa: F401
        from core.dbpool import pool_tune_from_settings
        from core.logging import secret_redaction_install

        # Here, once Django's logging is configured, in every process that serves it (uvicorn,
        # gunicorn workers, runserver): access lines carry `/ws?token=<access token>`.
        secret_redaction_install()
        # psycopg's pool: reconnect quickly after a database outage, and say so once per interval.
        pool_tune_from_settings()
