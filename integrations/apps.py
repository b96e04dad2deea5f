from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import hooks
        from integrations import permissions  # noqa: F401  (declares the app's permissions)
        from integrations.selectors import organization_stats, usage_counts

        hooks.usage_counts.provide(usage_counts)
        hooks.organization_stats.provide(organization_stats)
