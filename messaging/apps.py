from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import hooks
        from messaging import permissions  # noqa: F401  (declares the app's permissions)
        from messaging.notifications import notification_publish
        from messaging.services import member_departed

        # The notifications app calls this hook after a notification is committed; it never imports us.
        hooks.notification_created.provide(notification_publish)
        hooks.member_cleanup.provide(member_departed)
