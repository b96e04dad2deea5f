"""The staff admin's one-step sign-in: e-mail, password and a TOTP or backup code (or a passkey) on one form."""

import json

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa, passkeys
from accounts.login import credentials_check
from accounts.models import BackupCodeDevice
from audit.services import event_record
from core import hooks
from core.actor import actor_of
from core.exceptions import ApplicationError

INVALID_SIGN_IN = "Enter the e-mail, password and code of a staff account. All three are checked together."
MFA_MISSING = (
    "Staff sign-in needs multi-factor authentication. An operator sets up your authenticator on the "
    "server (manage.py accounts_totp_enroll <your e-mail>); then sign in here with its code."
)


PASSKEY_MISSING = (
    'Staff sign-in needs a passkey: enter your e-mail and password, then choose "Log in with a passkey". '
    "Register one first from a session signed in with your authenticator (auth/passkeys/register)."
)


class _UnechoedTextInput(forms.TextInput):
    """A text box that never writes the submitted value back into the page (a code is single use)."""

    def format_value(self, value):
        return None


class StaffAuthenticationForm(AdminAuthenticationForm):
    """Check the password (with the API's lockout), staff status and a second factor in one submit.

    Whatever part is wrong, the answer is the same, so the form does not tell a guesser which
    part they got right; only a staff member without MFA is told how to set it up.
    """

    code = forms.CharField(
        label="Authenticator or backup code",
        max_length=32,
        strip=True,
        widget=_UnechoedTextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )

    # Filled by admin_passkey.js: the `challenge_id` of `auth/passkeys/login/begin {email}` and the assertion.
    passkey_challenge = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)
    passkey_credential = forms.CharField(required=False, max_length=16384, widget=forms.HiddenInput)

    error_messages = {**AdminAuthenticationForm.error_messages, "invalid_login": INVALID_SIGN_IN}

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        # A passkey stands in for the code; under STAFF_REQUIRE_PASSKEY a code is not accepted at all.
        self.fields["code"].required = not (self.data.get("passkey_credential") or settings.STAFF_REQUIRE_PASSKEY)

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        code = self.cleaned_data.get("code")
        credential = self.cleaned_data.get("passkey_credential")
        if not email or not password:
            return self.cleaned_data
        try:
            # The API's check: django-axes counts the failure and locks the account and the IP
            # alike, and a failure is audited (`user.login_failed`).
            user = credentials_check(request=self.request, email=email, password=password)
        except ApplicationError as error:
            raise self._refusal(error) from None
        self.confirm_login_allowed(user)  # active staff only: the same message as a wrong password
        if not mfa.mfa_enabled(user=user):
            raise ValidationError(MFA_MISSING, code="mfa_missing")
        if credential or settings.STAFF_REQUIRE_PASSKEY:
            self.user_cache = self._passkey_check(user=user, email=email, credential=credential)
            return self.cleaned_data
        if not code:
            raise self.get_invalid_login_error()
        try:
            method = mfa.mfa_code_verify(user=user, code=code)
        except ApplicationError as error:  # django-otp's back-off after wrong TOTP codes
            raise ValidationError(error.message, code="throttled") from None
        if method is None:
            self._wrong_code(user=user, email=email)
            raise self.get_invalid_login_error()
        # django-otp marks the session verified with this device when Django's login() runs.
        user.otp_device = self._device(user=user, method=method)
        self.user_cache = user
        return self.cleaned_data

    def _passkey_check(self, *, user, email: str, credential: str):
        if not credential:
            raise ValidationError(PASSKEY_MISSING, code="passkey_required")
        try:
            assertion = json.loads(credential)
        except ValueError:
            assertion = None
        device = None
        if isinstance(assertion, dict):
            device = passkeys.passkey_assertion_check(user=user, challenge_id=self.cleaned_data.get("passkey_challenge") or "", credential=assertion)
        if device is None:
            self._wrong_code(user=user, email=email)
            raise self.get_invalid_login_error()
        # django-otp marks the session verified with the passkey when Django's login() runs.
        user.otp_device = device
        return user

    def _refusal(self, error: ApplicationError) -> ValidationError:
        if error.status_code == 429:
            return ValidationError(error.message, code="locked_out")
        return self.get_invalid_login_error()

    def _wrong_code(self, *, user, email: str) -> None:
        # A wrong second factor is a failed sign-in for the lockout too: a stolen password does not
        # buy unlimited guesses at backup codes.
        user_login_failed.send(sender=__name__, credentials={"username": email}, request=self.request)
        event_record(
            action="user.login_failed",
            actor=actor_of(self.request).as_user(user),
            organization_id=hooks.default_organization(user=user),
            target=user,
            metadata={"via": "admin", "reason": "mfa_code"},
        )

    @staticmethod
    def _device(*, user, method: str):
        device_model = TOTPDevice if method == "totp" else BackupCodeDevice
        return device_model.objects.filter(user=user, confirmed=True).first()
