from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from audit import permissions  # noqa: F401  (declares the app's permissions)
        from audit.services import event_record
        from core import hooks

        hooks.register(hooks.AUDIT_RECORD, event_record)
