from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import hooks
        from notifications.selectors import user_export
        from notifications.services import notify

        hooks.register(hooks.NOTIFY, notify)
        hooks.register(hooks.USER_EXPORT, user_export)
