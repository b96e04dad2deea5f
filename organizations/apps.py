from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from organizations import hooks, permissions, signals  # noqa: F401  (declares the app's permissions; cache invalidation)

        hooks.register()
