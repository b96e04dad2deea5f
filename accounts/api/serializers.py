"""Request and response shapes of the Auth and Users endpoints."""

from rest_framework import serializers

from accounts.models import User, UserSession
from accounts.selectors import user_linked_providers
from core import hooks


class UserSerializer(serializers.ModelSerializer):
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
            "avatar_url",
            "phone",
            "email_verified",
            "mfa_enabled",
            "has_password",
            "linked_providers",
            "date_joined",
        ]
        read_only_fields = fields

    def get_mfa_enabled(self, user: User) -> bool:
        from accounts.mfa import mfa_enabled

        return mfa_enabled(user=user)

    def get_has_password(self, user: User) -> bool:
        return user.has_usable_password()

    def get_linked_providers(self, user: User) -> list[str]:
        return user_linked_providers(user=user)


class MeSerializer(UserSerializer):
    """`users/me`: the user plus their organization context."""

    needs_org_setup = serializers.BooleanField(read_only=True)
    active_organization = serializers.DictField(read_only=True, allow_null=True)
    role = serializers.CharField(read_only=True, allow_null=True)

    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["needs_org_setup", "active_organization", "role"]
        read_only_fields = fields


class MeUpdateSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    phone = serializers.RegexField(r"^\+?[0-9 ().-]{3,32}$", max_length=32, required=False, allow_blank=True)


class MeDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=256, required=False, allow_blank=True, write_only=True)


class OrganizationBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    role = serializers.CharField(allow_null=True)


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, write_only=True, trim_whitespace=False)
    full_name = serializers.CharField(max_length=150)
    organization_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    organization_website = serializers.URLField(max_length=200, required=False, allow_blank=True)

    def validate_organization_name(self, value: str) -> str:
        if value and not hooks.organization_create.provided:
            raise serializers.ValidationError("Organizations are not available on this server.")
        return value.strip()


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField(required=False)
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class RegisterResponseSerializer(TokenResponseSerializer):
    user = UserSerializer()
    organization = OrganizationBriefSerializer(allow_null=True)


class LoginSerializer(serializers.Serializer):
    """JSON `{email, password}` or the OAuth2 password form's `username`/`password`."""

    email = serializers.CharField(max_length=254, required=False)
    username = serializers.CharField(max_length=254, required=False, help_text="Alias of email (OAuth2 form).")
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    organization_id = serializers.UUIDField(required=False, allow_null=True)
    grant_type = serializers.CharField(required=False, max_length=20, help_text="OAuth2 form only: `password`.")

    def validate(self, attrs):
        email = attrs.get("email") or attrs.get("username")
        if not email:
            raise serializers.ValidationError({"email": ["This field is required."]})
        attrs["email"] = email
        return attrs


class LoginResponseSerializer(TokenResponseSerializer):
    """Tokens, or `{status: "mfa_required", mfa_token}` when MFA is on."""

    access_token = serializers.CharField(required=False)
    token_type = serializers.CharField(required=False)
    expires_in = serializers.IntegerField(required=False)
    user = UserSerializer(required=False)
    organization = OrganizationBriefSerializer(allow_null=True, required=False)
    status = serializers.CharField(required=False)
    mfa_token = serializers.CharField(required=False)


class AuthResponseSerializer(TokenResponseSerializer):
    user = UserSerializer()
    organization = OrganizationBriefSerializer(allow_null=True)


class MfaVerifySerializer(serializers.Serializer):
    mfa_token = serializers.CharField(max_length=128)
    code = serializers.CharField(max_length=32)


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096)


class SessionSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = ["id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "auth_method", "current"]
        read_only_fields = fields

    def get_current(self, session: UserSession) -> bool:
        return str(session.id) == str(self.context.get("current_session_id"))


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(max_length=256, trim_whitespace=False)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=128)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class SetupStatusSerializer(serializers.Serializer):
    needs_setup = serializers.BooleanField()
    has_users = serializers.BooleanField()


class MfaStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    methods = serializers.ListField(child=serializers.CharField())
    backup_codes_remaining = serializers.IntegerField()


class MfaEnrollSerializer(serializers.Serializer):
    secret = serializers.CharField()
    otpauth_url = serializers.CharField()
    qr_svg = serializers.CharField(help_text="Inline SVG markup of the QR code.")


class MfaCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class BackupCodesSerializer(serializers.Serializer):
    backup_codes = serializers.ListField(child=serializers.CharField())


class ImpersonateSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    reason = serializers.CharField(max_length=500, min_length=5)


class ImpersonateResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    user = UserSerializer()
