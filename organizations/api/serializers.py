"""Request and response shapes of the Organizations endpoints."""

from rest_framework import serializers

from organizations.models import Membership, Organization


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "website", "company_size", "role", "created_at", "updated_at"]
        read_only_fields = fields

    def get_role(self, organization) -> str | None:
        roles = self.context.get("roles") or {}
        return roles.get(organization.id) or getattr(organization, "my_role", None)


class OrganizationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.CharField(max_length=60, required=False, allow_blank=True)
    website = serializers.URLField(max_length=200, required=False, allow_blank=True)
    company_size = serializers.ChoiceField(choices=["1-10", "11-50", "51-200", "201-1000", "1000+"], required=False, allow_blank=True)


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    slug = serializers.CharField(max_length=60, required=False)
    website = serializers.URLField(max_length=200, required=False, allow_blank=True)


class OrganizationDeleteSerializer(serializers.Serializer):
    confirm = serializers.CharField(max_length=60)


class SettingsSerializer(serializers.Serializer):
    settings = serializers.DictField(
        help_text="Known keys only: "
        + ", ".join(["timezone", "locale", "logo_url", "primary_color", "require_mfa", "default_role", "allowed_email_domains", "notifications"])
    )


class StatsSerializer(serializers.Serializer):
    members = serializers.IntegerField()
    active_members = serializers.IntegerField()
    teams = serializers.IntegerField()
    pending_invites = serializers.IntegerField()
    api_keys = serializers.IntegerField()
    integrations = serializers.IntegerField()
    storage_used_mb = serializers.FloatField()


class MemberSerializer(serializers.ModelSerializer):
    """A member, flat: user fields + role + status + joined_at."""

    user_id = serializers.UUIDField(source="user.id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    avatar_url = serializers.CharField(source="user.avatar_url", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "full_name", "avatar_url", "role", "status", "display_name", "title", "joined_at"]
        read_only_fields = fields


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.SlugField(max_length=50, required=False)
    status = serializers.ChoiceField(choices=Membership.Status.choices, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give `role` and/or `status`.")
        return attrs


class TransferOwnershipSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = Membership
        fields = ["display_name", "title", "role", "status", "joined_at"]
        read_only_fields = ["role", "status", "joined_at"]
        extra_kwargs = {"display_name": {"required": False}, "title": {"required": False}}


class SetupOrganizationSerializer(serializers.Serializer):
    organization_name = serializers.CharField(max_length=100)
    organization_website = serializers.URLField(max_length=200, required=False, allow_blank=True)
    company_size = serializers.ChoiceField(choices=["1-10", "11-50", "51-200", "201-1000", "1000+"], required=False, allow_blank=True)


class SwitchOrgSerializer(serializers.Serializer):
    organization_id = serializers.UUIDField()
