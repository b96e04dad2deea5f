"""Request and response shapes of the permissions endpoints (catalog, roles, assignments, checks, policies)."""

import re
from functools import cache
from zoneinfo import available_timezones

from rest_framework import serializers

from core.net import cidrs_normalize
from core.serializers import ModelSerializer, PlainCharField, Serializer
from permissions import selectors, services
from permissions.models import Policy, Role, RoleAssignment

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_CHECKS = 100


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _permission_list(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=100), max_length=500, **kwargs)


# --- catalog and codes ------------------------------------------------------------------------


class PermissionSerializer(Serializer):
    code = serializers.CharField(help_text="`resource:action`")
    resource = serializers.CharField()
    action = serializers.CharField()
    description = serializers.CharField()


class PermissionCatalogSerializer(Serializer):
    data = PermissionSerializer(many=True)


class PermissionCodesSerializer(Serializer):
    data = serializers.ListField(child=serializers.CharField(), help_text="Permission codes, sorted.")


class PermissionsBodySerializer(Serializer):
    permissions = _permission_list(help_text="Declared permission codes (see the catalog); replaces the role's list.")


class EffectivePermissionsSerializer(Serializer):
    data = serializers.ListField(
        child=serializers.CharField(), help_text="Permissions held right now: roles ∪ assignments ∪ policy allows, minus policy denies."
    )
    roles = serializers.ListField(child=serializers.CharField(), help_text="Base role slug and extra roles' slugs.")
    revision = serializers.IntegerField(help_text="The organization's authorization revision these answers reflect.")


# --- roles ----------------------------------------------------------------------------------


class RoleSerializer(ModelSerializer):
    permissions = serializers.SerializerMethodField()
    member_count = serializers.SerializerMethodField(help_text="Members holding the role, as base role or extra assignment (each once).")

    class Meta:
        model = Role
        fields = ["id", "slug", "name", "description", "permissions", "is_builtin", "member_count", "created_at", "updated_at"]
        read_only_fields = fields

    def get_permissions(self, role) -> list[str]:
        return sorted(services.role_grants(role))

    def get_member_count(self, role) -> int:
        return selectors.role_member_count(role=role)


class RoleUsageSerializer(Serializer):
    role_id = serializers.UUIDField()
    slug = serializers.CharField()
    members = serializers.IntegerField(help_text="Members whose base role it is.")
    assignments = serializers.IntegerField(help_text="Extra assignments of it (role-assignments).")


class RoleUsageListSerializer(Serializer):
    data = RoleUsageSerializer(many=True)


class MemberRoleSerializer(Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    source = serializers.ChoiceField(choices=["base", "assignment"], help_text="`base`: the member's base role; `assignment`: an extra role.")


class MemberRoleListSerializer(Serializer):
    data = MemberRoleSerializer(many=True)


class RoleCreateSerializer(Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.CharField(
        max_length=50,
        required=False,
        help_text="Lowercase letters, digits, `-` and `_`; generated from the name when absent; never a built-in slug; cannot change later.",
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    permissions = _permission_list(help_text="Declared permission codes; you can only grant permissions you hold.")


class RoleUpdateSerializer(Serializer):
    name = serializers.CharField(max_length=100, required=False)
    slug = serializers.CharField(max_length=50, required=False, help_text="Read-only: accepted only when unchanged.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    permissions = _permission_list(required=False)


class RoleRefSerializer(ModelSerializer):
    class Meta:
        model = Role
        fields = ["id", "slug", "name", "is_builtin"]
        read_only_fields = fields


# --- role assignments -----------------------------------------------------------------------


class RoleAssignmentSerializer(ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    role = RoleRefSerializer(read_only=True)
    assigned_by = serializers.UUIDField(source="assigned_by_id", read_only=True, allow_null=True)

    class Meta:
        model = RoleAssignment
        fields = ["id", "user_id", "email", "role", "assigned_by", "created_at"]
        read_only_fields = fields


class RoleAssignmentBodySerializer(Serializer):
    user_id = serializers.UUIDField()
    role_id = serializers.UUIDField()


# --- checks ---------------------------------------------------------------------------------

_OTHER_USER = (
    "Another member of the organization (needs `members:read`): judged with their roles and this "
    "request's IP and time, but MFA counts as not met. Omit to ask about yourself."
)


class CheckSerializer(Serializer):
    permission = serializers.CharField(max_length=100, help_text="A permission code; unknown codes answer allowed=false.")
    user_id = serializers.UUIDField(required=False, help_text=_OTHER_USER)


class CheckResultSerializer(Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.CharField()


class CheckManySerializer(Serializer):
    permissions = serializers.ListField(
        child=PlainCharField(max_length=100), allow_empty=False, max_length=MAX_CHECKS, help_text=f"1 to {MAX_CHECKS} permission codes."
    )
    user_id = serializers.UUIDField(required=False, help_text=_OTHER_USER)
    at_least_revision = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="When newer than the revision this request sees, the answer is computed fresh (revision re-read, caches bypassed).",
    )


class CheckManyResultSerializer(Serializer):
    results = serializers.DictField(child=serializers.BooleanField(), help_text="permission → allowed")
    revision = serializers.IntegerField(help_text="The organization's authorization revision these answers reflect.")


# --- policies -------------------------------------------------------------------------------


class TimeWindowSerializer(Serializer):
    start = serializers.CharField(help_text="`HH:MM`, inclusive.")
    end = serializers.CharField(help_text="`HH:MM`, inclusive; before `start` means the window runs across midnight.")
    days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        allow_empty=False,
        max_length=7,
        help_text="Weekdays, Monday=0 … Sunday=6, of the day the window starts (after midnight still counts as that day). Every day when absent.",
    )
    timezone = serializers.CharField(required=False, max_length=64, help_text="IANA name, e.g. `Europe/Paris`; UTC when absent.")

    def _hhmm(self, value: str) -> str:
        if not _HHMM.match(value):
            raise serializers.ValidationError("Use HH:MM (24-hour).")
        return value

    def validate_start(self, value):
        return self._hhmm(value)

    def validate_end(self, value):
        return self._hhmm(value)

    def validate_days(self, value):
        return sorted(set(value))

    def validate_timezone(self, value):
        if value not in _timezones():
            raise serializers.ValidationError("Unknown time zone: use an IANA name such as Europe/Paris.")
        return value

    def validate(self, attrs):
        if attrs.get("start") is not None and attrs.get("start") == attrs.get("end"):
            raise serializers.ValidationError({"end": ["Must differ from start."]})
        return attrs


class ConditionsSerializer(Serializer):
    """Requirements: an allow grants only while all hold; a deny refuses whenever one does not (or always, without any)."""

    mfa_required = serializers.BooleanField(required=False, help_text="The session passed MFA. A failed deny answers 403 MFA_REQUIRED.")
    ip_ranges = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_empty=False, max_length=100, help_text="CIDRs (IPv4/IPv6) the client IP must be in."
    )
    time_window = TimeWindowSerializer(required=False)

    def validate_ip_ranges(self, value):
        try:
            return cidrs_normalize(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class SubjectsSerializer(Serializer):
    """Who a policy applies to (any of them); everyone, API keys included, when empty.

    A deny names members: only someone holding every permission they hold may write it (the owner always may).
    """

    roles = serializers.ListField(
        child=serializers.SlugField(max_length=50), required=False, max_length=100, help_text="Role slugs of the org (base or extra role)."
    )
    users = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=500, help_text="User ids of members.")
    teams = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=100, help_text="Team ids of the org.")


class PolicySerializer(ModelSerializer):
    subjects = SubjectsSerializer(read_only=True)
    conditions = ConditionsSerializer(read_only=True)
    permissions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Policy
        fields = ["id", "name", "effect", "permissions", "subjects", "conditions", "created_at", "updated_at"]
        read_only_fields = fields


_POLICY_PERMISSIONS = "Declared permission codes, or `*` for all; you can only write policies about permissions you hold."


class PolicyCreateSerializer(Serializer):
    name = serializers.CharField(max_length=100)
    effect = serializers.ChoiceField(choices=Policy.Effect.choices)
    permissions = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False, max_length=500, help_text=_POLICY_PERMISSIONS)
    subjects = SubjectsSerializer(required=False)
    conditions = ConditionsSerializer(required=False)


class PolicyUpdateSerializer(Serializer):
    """Every field optional; `subjects` and `conditions`, when given, replace the old ones whole."""

    name = serializers.CharField(max_length=100, required=False)
    effect = serializers.ChoiceField(choices=Policy.Effect.choices, required=False)
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=100), allow_empty=False, max_length=500, required=False, help_text=_POLICY_PERMISSIONS
    )
    subjects = SubjectsSerializer(required=False)
    conditions = ConditionsSerializer(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs
