"""Request and response shapes of the Organizations endpoints."""

from rest_framework import serializers

from core.serializers import ModelSerializer, Serializer
from organizations.models import Membership, Organization

PHONE_HELP = "E.164: + then country code and number (spaces, dots, dashes, brackets are dropped), e.g. +14155550123."


class OrganizationSerializer(ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "website", "company_size", "email", "phone", "role", "created_at", "updated_at"]
        read_only_fields = fields

    def get_role(self, organization) -> str | None:
        roles = self.context.get("roles") or {}
        return roles.get(organization.id) or getattr(organization, "my_role", None)


class OrganizationCreateSerializer(Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.CharField(max_length=60, required=False, allow_blank=True)
    website = serializers.URLField(max_length=200, required=False, allow_blank=True)
    company_size = serializers.ChoiceField(choices=["1-10", "11-50", "51-200", "201-1000", "1000+"], required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, help_text="Contact e-mail of the organization.")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text=PHONE_HELP)


class OrganizationUpdateSerializer(Serializer):
    name = serializers.CharField(max_length=100, required=False)
    slug = serializers.CharField(max_length=60, required=False)
    website = serializers.URLField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, help_text="Contact e-mail of the organization.")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text=PHONE_HELP)


class OrganizationDeleteSerializer(Serializer):
    confirm = serializers.CharField(max_length=60)


class SettingsSerializer(Serializer):
    settings = serializers.DictField(
        help_text="Known keys only: "
        + ", ".join(["timezone", "locale", "require_mfa", "default_role", "allowed_email_domains", "notifications"])
        + ". White-label keys (plan feature `white_label`, else 402 PLAN_UPGRADE_REQUIRED; null removes one on any plan): "
        + "company_name, logo_url (https), primary_color (#rrggbb), email_from_name."
    )


class StatsSerializer(Serializer):
    members = serializers.IntegerField()
    active_members = serializers.IntegerField()
    teams = serializers.IntegerField()
    pending_invites = serializers.IntegerField()
    api_keys = serializers.IntegerField()
    integrations = serializers.IntegerField()
    storage_used_mb = serializers.FloatField()


class MemberSerializer(ModelSerializer):
    """A member, flat: user fields + role + status + joined_at."""

    user_id = serializers.UUIDField(source="user.id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    avatar_url = serializers.CharField(source="user.avatar_url", read_only=True)

    class Meta:
        model = Membership
        fields = [
            "user_id",
            "email",
            "full_name",
            "first_name",
            "last_name",
            "avatar_url",
            "role",
            "status",
            "status_reason",
            "display_name",
            "title",
            "joined_at",
        ]
        read_only_fields = fields


class MemberAddSerializer(Serializer):
    email = serializers.EmailField(max_length=254, help_text="An existing user's verified address at one of the org's verified domains.")
    role = serializers.SlugField(max_length=50, required=False, help_text="A role slug of the org (not owner); default: the org's `default_role`.")


class MemberRevokeSerializer(Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why access is revoked; shown as `status_reason` on the member.")


class MemberUpdateSerializer(Serializer):
    role = serializers.SlugField(max_length=50, required=False)
    status = serializers.ChoiceField(choices=Membership.Status.choices, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give `role` and/or `status`.")
        return attrs


class TransferOwnershipSerializer(Serializer):
    user_id = serializers.UUIDField()


class ProfileSerializer(ModelSerializer):
    class Meta:
        model = Membership
        fields = ["display_name", "title", "role", "status", "joined_at"]
        read_only_fields = ["role", "status", "joined_at"]
        extra_kwargs = {"display_name": {"required": False}, "title": {"required": False}}


class SetupOrganizationSerializer(Serializer):
    organization_name = serializers.CharField(max_length=100)
    organization_website = serializers.URLField(max_length=200, required=False, allow_blank=True)
    company_size = serializers.ChoiceField(choices=["1-10", "11-50", "51-200", "201-1000", "1000+"], required=False, allow_blank=True)


class SwitchOrgSerializer(Serializer):
    organization_id = serializers.UUIDField()
