from django.apps import AppConfig


class InternalConfig(AppConfig):
    """The signed service-to-service API for product services outside this codebase (`/internal/v1/`)."""

    name = "internal"
    default_auto_field = "django.db.models.BigAutoField"
