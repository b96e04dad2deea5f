from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "ai"
    verbose_name = "AI chat"
    default_auto_field = "django.db.models.BigAutoField"
