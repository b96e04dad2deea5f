from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import hooks
        from notifications.selectors import user_export

        hooks.user_export.provide(user_export)
