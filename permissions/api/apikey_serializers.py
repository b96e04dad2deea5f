"""Request and response shapes of the API keys endpoints. No shape but the issuing ones carries `secret`."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import clock
from core.net import cidrs_normalize
from core.serializers import ModelSerializer, Serializer
from permissions import catalog
from permissions.models import ApiKey


class ApiKeyCreatorSerializer(Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)


class ApiKeySerializer(ModelSerializer):
    """A key as listed: never its secret nor its hash."""

    prefix = serializers.CharField(
        source="public_prefix", read_only=True, help_text="The literal start of the secret (`sk_live_<prefix>`), to match a key you hold to its row."
    )
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    ip_allowlist = serializers.ListField(child=serializers.CharField(), read_only=True)
    status = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "status",
            "ip_allowlist",
            "created_at",
            "created_by",
            "expires_at",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "previous_valid_until",
        ]
        read_only_fields = fields
        extra_kwargs = {"previous_valid_until": {"help_text": "Until when the secret replaced by the last rotation still works."}}

    # A described string, not an enum: several shapes have a `status` and enum names would collide.
    @extend_schema_field({"type": "string", "description": "active, expired or revoked", "example": "active"})
    def get_status(self, api_key: ApiKey) -> str:
        return api_key.status

    @extend_schema_field(ApiKeyCreatorSerializer(allow_null=True))
    def get_created_by(self, api_key: ApiKey) -> dict | None:
        user = api_key.created_by
        return {"id": user.id, "email": user.email} if user is not None else None


class ApiKeySecretSerializer(ApiKeySerializer):
    """A key just issued or rotated, with its secret: shown this once, never stored in clear."""

    secret = serializers.SerializerMethodField()

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "secret"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "example": "sk_live_AbCdEf012345_..."})
    def get_secret(self, api_key: ApiKey) -> str:
        return self.context["secret"]


class ApiKeyCreateSerializer(Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        allow_empty=False,
        max_length=200,
        help_text=(
            "Permission codes; default: everything the caller may do right now (roles minus deny policies). "
            "Never more (400). The key then acts within these and what its creator may do at the time of each call."
        ),
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Must be in the future.")
    ip_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=100,
        help_text="CIDR ranges or addresses; when set, calls from any other client IP are refused (401).",
    )

    def validate_scopes(self, scopes: list[str]) -> list[str]:
        unknown = sorted({s for s in scopes if not catalog.is_declared(s)})
        if unknown:
            raise serializers.ValidationError(f"Unknown permissions: {', '.join(unknown)}.")
        return sorted(set(scopes))

    def validate_expires_at(self, expires_at):
        if expires_at is not None and expires_at <= clock.now():
            raise serializers.ValidationError("Must be in the future.")
        return expires_at

    def validate_ip_allowlist(self, values: list[str]) -> list[str]:
        try:
            return cidrs_normalize(values)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
