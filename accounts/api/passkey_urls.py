"""Passkeys (mounted under /api/v1/auth/passkeys/)."""

from django.urls import path

from accounts.api import passkey_views

urlpatterns = [
    path("passkeys/register/begin", passkey_views.PasskeyRegisterBeginView.as_view(), name="passkey-register-begin"),
    path("passkeys/register/complete", passkey_views.PasskeyRegisterCompleteView.as_view(), name="passkey-register-complete"),
    path("passkeys/login/begin", passkey_views.PasskeyLoginBeginView.as_view(), name="passkey-login-begin"),
    path("passkeys/login/complete", passkey_views.PasskeyLoginCompleteView.as_view(), name="passkey-login-complete"),
    path("passkeys/mfa/begin", passkey_views.PasskeyMfaBeginView.as_view(), name="passkey-mfa-begin"),
    path("passkeys/mfa/complete", passkey_views.PasskeyMfaCompleteView.as_view(), name="passkey-mfa-complete"),
]
