from django.apps import AppConfig


class SsoConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        from accounts import sessions
        from organizations import context
        from sso import signin

        # Every sign-in but SSO's (password, Google, passkey, invitation) asks whether an enforced
        # connection must sign the account in.
        sessions.sso_required.provide(signin.sso_required)
        sessions.sso_enforced_in.provide(signin.sso_enforced_in)
        # Every org-scoped request of a session not opened through SSO, in an org that enforces it.
        context.sso_enforced.provide(signin.org_enforces_sso)
