"""Request and response shapes of the SCIM token endpoints. Only the issuing ones carry `secret`."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import ModelSerializer, Serializer
from scim.models import ScimToken


class ScimTokenCreateSerializer(Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="", help_text="A label, e.g. the IdP's name.")


class ScimTokenCreatorSerializer(Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)


class ScimTokenSerializer(ModelSerializer):
    """A token as listed: never its secret nor its hash."""

    prefix = serializers.CharField(source="public_prefix", read_only=True, help_text="The literal start of the token (`scim_<prefix>`).")
    status = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    scim_base_url = serializers.SerializerMethodField()

    class Meta:
        model = ScimToken
        fields = ["id", "name", "prefix", "status", "scim_base_url", "created_at", "created_by", "rotated_at", "last_used_at", "last_used_ip", "revoked_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "description": "active or revoked", "example": "active"})
    def get_status(self, token: ScimToken) -> str:
        return token.status

    @extend_schema_field(ScimTokenCreatorSerializer(allow_null=True))
    def get_created_by(self, token: ScimToken) -> dict | None:
        user = token.created_by
        return {"id": user.id, "email": user.email} if user is not None else None

    @extend_schema_field({"type": "string", "format": "uri", "description": "The SCIM base URL to give the IdP (the token acts on it)."})
    def get_scim_base_url(self, token: ScimToken) -> str:
        path = f"/scim/v2/{token.organization_id}"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ScimTokenSecretSerializer(ScimTokenSerializer):
    """A token with its secret: only in the answer that issues it (create, rotate)."""

    secret = serializers.SerializerMethodField(help_text="The bearer token for the IdP. Shown once: store it now.")

    class Meta(ScimTokenSerializer.Meta):
        fields = [*ScimTokenSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, token: ScimToken) -> str:
        return self.context["secret"]
