"""Bodies and answers of the passkey (WebAuthn) endpoints."""

from rest_framework import serializers

from accounts.passkeys import PASSKEY_NAME_MAX
from core.serializers import Serializer

_CREDENTIAL_HELP = "The browser's `PublicKeyCredential` as JSON (`credential.toJSON()`): id, rawId, type, response, clientExtensionResults."


class CredentialField(serializers.JSONField):
    """A WebAuthn credential as the browser serializes it: a JSON object."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object (PublicKeyCredential.toJSON()).")
        return value


class PasskeyRegisterCompleteSerializer(Serializer):
    credential = CredentialField(help_text=_CREDENTIAL_HELP)
    name = serializers.CharField(max_length=PASSKEY_NAME_MAX, required=False, allow_blank=True, help_text="A label, e.g. `MacBook Touch ID`.")


class PasskeyLoginBeginSerializer(Serializer):
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, help_text="Omit for discoverable passkeys (autofill).")


class PasskeyLoginCompleteSerializer(Serializer):
    challenge_id = serializers.CharField(max_length=128)
    credential = CredentialField(help_text=_CREDENTIAL_HELP)
    organization_id = serializers.UUIDField(required=False, allow_null=True)
    org_selection = serializers.BooleanField(required=False, default=False)


class PasskeyMfaBeginSerializer(Serializer):
    mfa_token = serializers.CharField(max_length=128)


class PasskeyMfaCompleteSerializer(Serializer):
    mfa_token = serializers.CharField(max_length=128)
    credential = CredentialField(help_text=_CREDENTIAL_HELP)


class PasskeyMethodSerializer(Serializer):
    """A registered passkey, as `auth/mfa` lists it plus its WebAuthn facts."""

    id = serializers.CharField(help_text="`webauthn_<n>`: the id `DELETE auth/mfa/{id}` takes.")
    type = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    backup_eligible = serializers.BooleanField()
    backed_up = serializers.BooleanField()
    discoverable = serializers.BooleanField(allow_null=True)


class PasskeyLoginBeginResponseSerializer(Serializer):
    challenge_id = serializers.CharField(help_text="Single use; send it back with the assertion.")
    options = serializers.JSONField(help_text="PublicKeyCredentialRequestOptions as JSON.")
