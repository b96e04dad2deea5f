from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "ai"
    verbose_name = "AI chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from ai import permissions  # noqa: F401  (declares the app's permissions)
        from ai.selectors import user_export
        from core import hooks

        hooks.user_export.provide(user_export)
