from django.apps import AppConfig


class PremiumConfig(AppConfig):
    """Plan-gated features: the org's analytics and white label (issue 15), above every domain app."""

    name = "premium"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from premium import permissions  # noqa: F401  (names the permissions its routes require)
