from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    name = "permissions"
    label = "permissions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from permissions import hooks, permissions  # noqa: F401  (declares the app's permissions)

        hooks.register()
