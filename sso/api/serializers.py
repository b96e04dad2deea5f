"""SSO request bodies (strict: unknown fields are refused, nested ones too) and responses."""

from rest_framework import serializers

from core.serializers import Serializer
from sso.models import SSOConnection


class OIDCSettingsSerializer(Serializer):
    issuer = serializers.CharField(max_length=500, help_text="The IdP's issuer URL; discovery is read from `<issuer>/.well-known/openid-configuration`.")
    client_id = serializers.CharField(max_length=255)
    client_secret = serializers.CharField(max_length=2000, write_only=True, help_text="Stored encrypted; never returned.")


class OIDCSettingsUpdateSerializer(OIDCSettingsSerializer):
    issuer = serializers.CharField(max_length=500, required=False)
    client_id = serializers.CharField(max_length=255, required=False)
    client_secret = serializers.CharField(max_length=2000, write_only=True, required=False)


class SAMLSettingsSerializer(Serializer):
    metadata_xml = serializers.CharField(max_length=200_000, required=False, trim_whitespace=False, help_text="The IdP's SAML 2.0 metadata document.")
    metadata_url = serializers.CharField(max_length=500, required=False, help_text="Or the URL it is published at (https).")


class ConnectionCreateSerializer(Serializer):
    type = serializers.ChoiceField(choices=SSOConnection.Kind.choices)
    name = serializers.CharField(max_length=100)
    domains = serializers.ListField(child=serializers.CharField(max_length=253), min_length=1, max_length=50)
    enforce = serializers.BooleanField(
        default=False,
        help_text=(
            "Members at these domains whom the IdP may sign in (see `trusted_permissions`) can no longer sign in with a password,"
            " Google, a passkey or an invitation (the org owner still can)."
        ),
    )
    oidc = OIDCSettingsSerializer(required=False)
    saml = SAMLSettingsSerializer(required=False)

    def validate(self, attrs):
        kind = attrs["type"]
        if kind == SSOConnection.Kind.OIDC and "oidc" not in attrs:
            raise serializers.ValidationError({"oidc": ["Give issuer, client_id and client_secret."]})
        if kind == SSOConnection.Kind.SAML and "saml" not in attrs:
            raise serializers.ValidationError({"saml": ["Give metadata_xml or metadata_url."]})
        other = "saml" if kind == SSOConnection.Kind.OIDC else "oidc"
        if other in attrs:
            raise serializers.ValidationError({other: [f"Not used by a {kind} connection."]})
        return attrs


class ConnectionUpdateSerializer(Serializer):
    name = serializers.CharField(max_length=100, required=False)
    domains = serializers.ListField(child=serializers.CharField(max_length=253), min_length=1, max_length=50, required=False)
    enforce = serializers.BooleanField(required=False)
    oidc = OIDCSettingsUpdateSerializer(required=False)
    saml = SAMLSettingsSerializer(required=False)


class OIDCOutSerializer(Serializer):
    issuer = serializers.CharField()
    client_id = serializers.CharField()
    redirect_uri = serializers.CharField(help_text="Allow this redirect (sign-in) URI in the IdP.")


class SAMLOutSerializer(Serializer):
    idp_entity_id = serializers.CharField()
    metadata_url = serializers.CharField(help_text="The IdP metadata URL, when given as one.")


class SPSerializer(Serializer):
    entity_id = serializers.CharField(help_text="Our SP entity id (audience) to paste into the IdP.")
    acs_url = serializers.CharField(help_text="Our Assertion Consumer Service URL (HTTP-POST).")
    metadata_url = serializers.CharField(help_text="Our SP metadata, for IdPs that import it.")


class ConnectionSerializer(Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    name = serializers.CharField()
    domains = serializers.ListField(child=serializers.CharField())
    enforce = serializers.BooleanField()
    trusted_permissions = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            'Whom the IdP may sign in: members holding none beyond these permissions (`["*"]`: everyone), stamped from'
            " the member who last set the IdP or the domains. Others (and accounts in other organizations, and staff)"
            " sign in their usual way."
        ),
    )
    oidc = OIDCOutSerializer(required=False)
    saml = SAMLOutSerializer(required=False)
    sp = SPSerializer(required=False)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StartSerializer(Serializer):
    email = serializers.EmailField(required=False, max_length=254)
    organization_slug = serializers.SlugField(required=False, max_length=60)

    def validate(self, attrs):
        if bool(attrs.get("email")) == bool(attrs.get("organization_slug")):
            raise serializers.ValidationError({"email": ["Give your e-mail address or the organization's slug (one of them)."]})
        return attrs


class StartResponseSerializer(Serializer):
    redirect_url = serializers.URLField(help_text="Open it in the browser: it goes on to the IdP and back to the front end.")


class ConnectionListSerializer(Serializer):
    """`{"data": [...]}`: a small catalog, unpaginated (API.md pinned details)."""

    data = ConnectionSerializer(many=True)
