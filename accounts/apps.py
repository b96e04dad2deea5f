from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from rest_framework_simplejwt import state

        from accounts.token_backend import KeyedTokenBackend

        # simplejwt's one backend, read by every Token class when it signs or verifies: ours signs
        # with the current key and verifies by kid (accounts/token_backend.py).
        state.token_backend = KeyedTokenBackend()
        post_migrate.connect(_first_signing_key, sender=self, dispatch_uid="accounts.first_signing_key")
        setting_changed.connect(_signing_settings_changed, dispatch_uid="accounts.signing_settings_changed")


def _first_signing_key(sender, using="default", **kwargs):
    """After migrate (and a test flush), make the first signing key so `make run` and tests just work."""
    from django.db import connections

    from accounts.signing_keys import keyring, signing_key_ensure
    from core.actor import Actor

    tables = connections[using].introspection.table_names()
    if "accounts_signingkey" in tables and "audit_auditevent" in tables:
        signing_key_ensure(actor=Actor.system(), audit=False)
    keyring.forget()


def _signing_settings_changed(setting, **kwargs):
    if setting in ("SIMPLE_JWT", "JWT_KEY_ENCRYPTION_KEYS", "JWT_KEYS_CACHE_SECONDS", "SECRET_KEY"):
        from accounts.signing_keys import keyring

        keyring.forget()
