from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import hooks
        from integrations import permissions  # noqa: F401  (declares the app's permissions)
        from integrations.selectors import organization_stats, usage_counts

        hooks.register(hooks.USAGE_COUNTS, usage_counts)
        hooks.register(hooks.ORGANIZATION_STATS, organization_stats)
