"""Integrations API shapes (seed 000's: `{integrations: [...]}`, `{logs: [...]}`); secrets never appear."""

from rest_framework import serializers

from core import clock
from core.serializers import ModelSerializer, QuerySerializer, Serializer
from integrations import selectors
from integrations.models import Integration, IntegrationLog


class ProviderSerializer(Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    auth_type = serializers.ChoiceField(choices=Integration.Type.choices)
    auth_types = serializers.ListField(child=serializers.ChoiceField(choices=Integration.Type.choices))
    scopes = serializers.ListField(child=serializers.CharField())
    oauth_configured = serializers.BooleanField(help_text="Whether `oauth/{key}/start` can be used on this server")


class ProviderListSerializer(Serializer):
    """A small catalog: `{"data": [...]}`, unpaginated (API.md "Pinned details")."""

    data = ProviderSerializer(many=True)


class ConnectSerializer(Serializer):
    integration_key = serializers.CharField(max_length=50)
    type = serializers.ChoiceField(choices=Integration.Type.choices)
    credentials = serializers.CharField(
        max_length=64 * 1024,
        trim_whitespace=True,
        help_text="Base64 of a JSON object: {api_key} for api_key; {access_token, refresh_token?, expires_in?} for oauth",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expires_at(self, value):
        if value is not None and value <= clock.now():
            raise serializers.ValidationError("expires_at is in the past.")
        return value


class StatusMessageSerializer(Serializer):
    status = serializers.CharField()
    message = serializers.CharField()


class AuthorizeUrlSerializer(Serializer):
    authorize_url = serializers.URLField()


class IntegrationSerializer(ModelSerializer):
    revoked = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "key",
            "type",
            "status",
            "revoked",
            "account",
            "scopes",
            "expires_at",
            "last_refreshed_at",
            "connected_at",
            "updated_at",
            "last_error",
        ]

    def get_revoked(self, integration) -> bool:
        return integration.status == Integration.Status.REVOKED

    def get_status(self, integration) -> str:
        return selectors.integration_status(integration)


class IntegrationListSerializer(Serializer):
    integrations = IntegrationSerializer(many=True)


class IntegrationStatusSerializer(Serializer):
    integration = serializers.CharField()
    revoked = serializers.BooleanField()
    expired = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Integration.Status.choices)


class RefreshResultSerializer(Serializer):
    status = serializers.CharField()
    integration = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class LogQuerySerializer(QuerySerializer):
    integration = serializers.CharField(required=False, max_length=50)
    action = serializers.ChoiceField(required=False, choices=IntegrationLog.Action.values)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


class LogSerializer(ModelSerializer):
    integration = serializers.CharField(source="integration.key")

    class Meta:
        model = IntegrationLog
        fields = ["integration", "action", "message", "timestamp"]


class LogListSerializer(Serializer):
    logs = LogSerializer(many=True)
