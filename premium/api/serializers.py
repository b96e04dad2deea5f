"""Shapes of the premium routes (API.md v1.1 "Billing additions" → Premium endpoints)."""

from rest_framework import serializers

from core.serializers import Serializer
from organizations.services import white_label_value_problem
from premium.selectors import DEFAULT_DAYS, MAX_DAYS


class FreeFeatureSerializer(Serializer):
    feature = serializers.CharField()
    message = serializers.CharField()
    plan = serializers.CharField(allow_null=True, help_text="The org's plan code (null when no billing app answers).")
    features = serializers.DictField(child=serializers.BooleanField(), help_text="Feature flag → included in the plan.")


class AnalyticsQuerySerializer(Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=DEFAULT_DAYS, help_text="Calendar days (UTC) up to now, today included.")


class PeriodSerializer(Serializer):
    start = serializers.DateTimeField(help_text="Midnight UTC of the first day.")
    end = serializers.DateTimeField(help_text="Now.")


class MemberFiguresSerializer(Serializer):
    total = serializers.IntegerField(help_text="Memberships now (active and suspended).")
    active = serializers.IntegerField()
    joined = serializers.IntegerField(help_text="Joined during the period.")


class InviteFiguresSerializer(Serializer):
    sent = serializers.IntegerField(help_text="Invitations created (or refreshed) during the period.")
    accepted = serializers.IntegerField(help_text="Invitations accepted during the period.")


class ApiKeyFiguresSerializer(Serializer):
    active = serializers.IntegerField(help_text="Keys neither revoked nor expired now.")


class AuditDaySerializer(Serializer):
    date = serializers.DateField()
    count = serializers.IntegerField()


class AuditFiguresSerializer(Serializer):
    events = serializers.IntegerField(help_text="Audit events recorded during the period.")
    by_day = AuditDaySerializer(many=True, help_text="One entry per day of the period, oldest first (0 on quiet days).")


class AiFiguresSerializer(Serializer):
    requests = serializers.IntegerField(help_text="Prompts sent to AI chat during the period.")


class IntegrationFiguresSerializer(Serializer):
    connected = serializers.IntegerField()


class AnalyticsSerializer(Serializer):
    period = PeriodSerializer()
    members = MemberFiguresSerializer()
    invites = InviteFiguresSerializer()
    api_keys = ApiKeyFiguresSerializer()
    audit = AuditFiguresSerializer()
    ai = AiFiguresSerializer()
    storage_mb = serializers.IntegerField(help_text="Storage the org's documents take now, in whole MB.")
    integrations = IntegrationFiguresSerializer()


class WhiteLabelSerializer(Serializer):
    """The org's branding; on PUT an absent, null or empty value removes that key."""

    company_name = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    logo_url = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True, help_text="An https:// URL.")
    primary_color = serializers.RegexField(
        r"^#[0-9a-fA-F]{6}$", max_length=7, required=False, allow_null=True, allow_blank=True, help_text="A #rrggbb hex colour."
    )
    email_from_name = serializers.CharField(
        max_length=60,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Display name of the org's e-mails: \"<email_from_name> via <platform>\" <the platform's address>.",
    )

    def validate(self, attrs):
        errors = {key: [problem] for key, value in attrs.items() if value and (problem := white_label_value_problem(key, value))}
        if errors:
            raise serializers.ValidationError(errors)
        return attrs
