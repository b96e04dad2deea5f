from django.apps import AppConfig


class BareConfig(AppConfig):
    name = "config.bare"
    label = "bare"
    default_auto_field = "django.db.models.BigAutoField"
