"""Request and response shapes of the Auth and Users endpoints."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from accounts.mfa import METHOD_TYPES
from accounts.models import User, UserSession
from accounts.selectors import user_sign_in_methods
from core import hooks
from core.serializers import ModelSerializer, Serializer


class UserSerializer(ModelSerializer):
    """A user as the API shows them (`users/me` adds org context)."""

    email_verified = serializers.BooleanField(read_only=True)
    mfa_enabled = serializers.SerializerMethodField()
    has_password = serializers.SerializerMethodField()
    linked_providers = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "first_name",
            "last_name",
            "avatar_url",
            "phone",
            "email_verified",
            "mfa_enabled",
            "has_password",
            "linked_providers",
            "date_joined",
        ]
        read_only_fields = fields

    def _sign_in_methods(self, user: User) -> tuple[bool, list[str]]:
        # Both fields from one query (accounts.selectors.user_sign_in_methods), once per user shown.
        cached = getattr(self, "_sign_in_methods_of", None)
        if cached is None or cached[0] != user.pk:
            cached = self._sign_in_methods_of = (user.pk, user_sign_in_methods(user=user))
        return cached[1]

    def get_mfa_enabled(self, user: User) -> bool:
        return self._sign_in_methods(user)[0]

    def get_has_password(self, user: User) -> bool:
        return user.has_usable_password()

    def get_linked_providers(self, user: User) -> list[str]:
        return self._sign_in_methods(user)[1]


class OrganizationBriefSerializer(Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    role = serializers.CharField(allow_null=True)


class MeSerializer(UserSerializer):
    """`users/me`: the user plus their organization context."""

    needs_org_setup = serializers.BooleanField(read_only=True)
    active_organization = OrganizationBriefSerializer(read_only=True, allow_null=True)
    role = serializers.CharField(read_only=True, allow_null=True)

    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["needs_org_setup", "active_organization", "role"]
        read_only_fields = fields


NAME_FIELDS = ("full_name", "name", "first_name", "last_name")


class NameInputSerializer(Serializer):
    """The name fields every body taking a name accepts (API.md v1.1 "Name fields").

    `name` is an alias of `full_name` (both sent and different → 400); `first_name` + `last_name`
    may replace them (`accounts.services.user_names_resolve` keeps the three consistent).
    Validated data holds `full_name` (never `name`) plus the parts that were sent.
    """

    name_required = False

    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, help_text="Alias of `full_name`.")
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)

    NAME_REQUIRED = "This field is required (or `name`, or `first_name` and `last_name`)."

    def to_internal_value(self, data: Any) -> Any:
        # The missing name is reported with the other field errors, not only once they pass.
        missing = self.name_required and isinstance(data, Mapping) and not any(str(data.get(field) or "").strip() for field in NAME_FIELDS)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if missing and isinstance(exc.detail, dict):
                exc.detail.setdefault("full_name", [self.NAME_REQUIRED])
            raise
        if missing:
            raise serializers.ValidationError({"full_name": [self.NAME_REQUIRED]})
        return value

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        alias = attrs.pop("name", None)
        if alias is not None:
            full_name = attrs.get("full_name")
            if full_name is not None and " ".join(full_name.split()) != " ".join(alias.split()):
                raise serializers.ValidationError({"name": ["`name` is an alias of `full_name`: they differ."]})
            attrs["full_name"] = alias
        if not (attrs.get("full_name") or "").strip() and any((attrs.get(part) or "").strip() for part in ("first_name", "last_name")):
            # A form's empty `full_name` beside the parts is not a second, conflicting name.
            attrs.pop("full_name", None)
        return attrs


class MeUpdateSerializer(NameInputSerializer):
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    phone = serializers.RegexField(r"^\+?[0-9 ().-]{3,32}$", max_length=32, required=False, allow_blank=True)


class MeDeleteSerializer(Serializer):
    password = serializers.CharField(max_length=256, required=False, allow_blank=True, write_only=True)


class RegisterSerializer(NameInputSerializer):
    name_required = True

    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, write_only=True, trim_whitespace=False)
    organization_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    organization_website = serializers.URLField(max_length=200, required=False, allow_blank=True)

    def validate_organization_name(self, value: str) -> str:
        if value and not hooks.organization_create.provided:
            raise serializers.ValidationError("Organizations are not available on this server.")
        return value.strip()


class TokenResponseSerializer(Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField(required=False)
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class RegisterResponseSerializer(TokenResponseSerializer):
    user = UserSerializer()
    organization = OrganizationBriefSerializer(allow_null=True)


class LoginSerializer(Serializer):
    """JSON `{email, password}` or the OAuth2 password form's `username`/`password`."""

    email = serializers.CharField(max_length=254, required=False)
    username = serializers.CharField(max_length=254, required=False, help_text="Alias of email (OAuth2 form).")
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    organization_id = serializers.UUIDField(required=False, allow_null=True)
    org_selection = serializers.BooleanField(
        required=False,
        default=False,
        help_text="A user active in 2+ orgs (no `organization_id` sent) gets `org_selection_required` and picks at `auth/select-org`.",
    )
    grant_type = serializers.CharField(required=False, max_length=20, help_text="OAuth2 form only: `password`.")

    def validate(self, attrs):
        email = attrs.get("email") or attrs.get("username")
        if not email:
            raise serializers.ValidationError({"email": ["This field is required."]})
        attrs["email"] = email
        return attrs


class LoginResponseSerializer(TokenResponseSerializer):
    """Tokens (with the user's `organizations`), or `{status: "mfa_required", mfa_token}` when MFA is on,
    or `{status: "org_selection_required", selection_token, organizations}` when asked for."""

    access_token = serializers.CharField(required=False)
    token_type = serializers.CharField(required=False)
    expires_in = serializers.IntegerField(required=False)
    user = UserSerializer(required=False)
    organization = OrganizationBriefSerializer(allow_null=True, required=False)
    organizations = OrganizationBriefSerializer(many=True, required=False, help_text="Every org the user is an active member of.")
    status = serializers.ChoiceField(choices=["mfa_required", "org_selection_required"], required=False)
    mfa_token = serializers.CharField(required=False)
    selection_token = serializers.CharField(required=False, help_text="Single use, valid 5 minutes: send it to `auth/select-org`.")


class SelectOrgSerializer(Serializer):
    """The `selection_token` of a login that answered `org_selection_required`, and the org picked."""

    selection_token = serializers.CharField(max_length=128)
    organization_id = serializers.UUIDField()


class SignInResponseSerializer(TokenResponseSerializer):
    """Tokens of a completed sign-in, with the active org and every org the user is an active member of."""

    user = UserSerializer()
    organization = OrganizationBriefSerializer(allow_null=True)
    organizations = OrganizationBriefSerializer(many=True)


class AuthResponseSerializer(TokenResponseSerializer):
    user = UserSerializer()
    organization = OrganizationBriefSerializer(allow_null=True)


class MfaVerifySerializer(Serializer):
    mfa_token = serializers.CharField(max_length=128)
    code = serializers.CharField(max_length=32)


class RefreshSerializer(Serializer):
    refresh_token = serializers.CharField(max_length=4096)


class SessionSerializer(ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = ["id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "auth_method", "current"]
        read_only_fields = fields

    def get_current(self, session: UserSession) -> bool:
        return str(session.id) == str(self.context.get("current_session_id"))


class PasswordChangeSerializer(Serializer):
    current_password = serializers.CharField(max_length=256, trim_whitespace=False)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class PasswordResetRequestSerializer(Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetSerializer(Serializer):
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenSerializer(Serializer):
    token = serializers.CharField(max_length=128)


class DetailSerializer(Serializer):
    detail = serializers.CharField()


class SetupStatusSerializer(Serializer):
    needs_setup = serializers.BooleanField()
    has_users = serializers.BooleanField()


class MfaMethodSerializer(Serializer):
    """One second factor of mine (`backup_codes` has no `created_at`)."""

    id = serializers.CharField(help_text="`<type>_<n>`, e.g. `totp_12`: stable while the method exists.")
    type = serializers.ChoiceField(choices=METHOD_TYPES)
    name = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class MfaStatusSerializer(Serializer):
    enabled = serializers.BooleanField()
    methods = MfaMethodSerializer(many=True)
    backup_codes_remaining = serializers.IntegerField()


class MfaEnrollSerializer(Serializer):
    secret = serializers.CharField()
    otpauth_url = serializers.CharField()
    qr_svg = serializers.CharField(help_text="Inline SVG markup of the QR code.")


class MfaCodeSerializer(Serializer):
    code = serializers.CharField(max_length=32)


class MfaMethodRemoveSerializer(Serializer):
    code = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="A current TOTP or backup code; optional only for a passkey of an account without TOTP.",
    )


class BackupCodesSerializer(Serializer):
    backup_codes = serializers.ListField(child=serializers.CharField())


class ImpersonateSerializer(Serializer):
    user_id = serializers.UUIDField()
    reason = serializers.CharField(max_length=500, min_length=5)


class ImpersonateResponseSerializer(Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    user = UserSerializer()
