"""Request and response shapes of the platform permission registry (/api/v1/permissions)."""

from rest_framework import serializers

from core.serializers import Serializer


class PlatformPermissionSerializer(Serializer):
    code = serializers.CharField(help_text="`resource:action`")
    resource = serializers.CharField()
    action = serializers.CharField()
    description = serializers.CharField()
    is_builtin = serializers.BooleanField(help_text="Declared by the platform's own apps: read-only.")
    created_at = serializers.DateTimeField(allow_null=True, help_text="Null for built-in codes.")
    updated_at = serializers.DateTimeField(allow_null=True, help_text="Null for built-in codes.")


class PlatformPermissionListSerializer(Serializer):
    data = PlatformPermissionSerializer(many=True)


class PlatformPermissionCreateSerializer(Serializer):
    code = serializers.CharField(max_length=100, help_text="`resource:action`, lowercase letters, digits and underscores, e.g. `crm:write`.")
    description = serializers.CharField(max_length=500)


class PlatformPermissionUpdateSerializer(Serializer):
    description = serializers.CharField(max_length=500)
