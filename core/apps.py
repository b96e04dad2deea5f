from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Registers the OpenAPI extensions (drf-spectacular finds them by class creation).
        from core import schema  # noqa: F401
