from django.apps import AppConfig


class SsoConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        from accounts import login
        from sso import signin

        # Password (and Google) sign-in ask whether an enforced connection covers the account.
        login.sso_required.provide(signin.sso_required)
