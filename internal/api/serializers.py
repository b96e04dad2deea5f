"""Request and response shapes of the internal API (docs/internal-api.md)."""

from rest_framework import serializers

from billing import catalog
from core.serializers import Serializer
from internal.selectors import METERED_FEATURES

MAX_CHECKS = 100


class InternalValidateTokenSerializer(Serializer):
    token = serializers.CharField(max_length=8192, help_text="An access token (JWT) a client presented to the service.")


class InternalActorClaimSerializer(Serializer):
    sub = serializers.UUIDField(help_text="The impersonating staff member's user id")


class InternalTokenIntrospectionSerializer(Serializer):
    """RFC 7662 style: only `active` when the token is not valid right now."""

    active = serializers.BooleanField(help_text="false for anything invalid: bad signature, expired, revoked session, inactive user, not an access token")
    sub = serializers.UUIDField(required=False, help_text="The user's id")
    email = serializers.EmailField(required=False)
    org_id = serializers.UUIDField(required=False, allow_null=True, help_text="The org active in that session")
    sid = serializers.UUIDField(required=False, help_text="The session id (`auth/sessions`)")
    exp = serializers.IntegerField(required=False, help_text="Expiry, Unix time")
    mfa = serializers.BooleanField(required=False, help_text="Whether the session passed MFA")
    act = InternalActorClaimSerializer(required=False, help_text="Only on an impersonation token (RFC 8693): the staff member acting as `sub`")


class InternalUserSerializer(Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name = serializers.CharField()
    email_verified = serializers.BooleanField()
    mfa_enabled = serializers.SerializerMethodField()

    def get_mfa_enabled(self, user) -> bool:
        from accounts.mfa import mfa_enabled

        return mfa_enabled(user=user)


class InternalOrganizationSummarySerializer(Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    plan = serializers.CharField(allow_null=True, help_text="The code of the plan the org is entitled to now")
    features = serializers.DictField(child=serializers.BooleanField(), help_text="flag → bool (plan and add-ons)")


class InternalCheckSerializer(Serializer):
    org_id = serializers.UUIDField()
    user_id = serializers.UUIDField(help_text="A member of the org (404 otherwise); judged without MFA and without a client IP.")
    permission = serializers.CharField(max_length=100, help_text="A permission code; unknown codes answer allowed=false.")


class InternalCheckManySerializer(Serializer):
    org_id = serializers.UUIDField()
    user_id = serializers.UUIDField(help_text="A member of the org (404 otherwise); judged without MFA and without a client IP.")
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=100), allow_empty=False, max_length=MAX_CHECKS, help_text=f"1 to {MAX_CHECKS} permission codes."
    )
    at_least_revision = serializers.IntegerField(
        required=False, min_value=1, help_text="When newer than the revision this request sees, the answer is computed fresh."
    )


class InternalCheckLimitSerializer(Serializer):
    feature = serializers.ChoiceField(choices=list(catalog.USAGE_LIMITS), help_text="A usage key, as `billing/usage/check-limit` takes.")


class InternalUsageReportSerializer(Serializer):
    feature = serializers.ChoiceField(choices=list(METERED_FEATURES), help_text="A metered usage key (counted per calendar month).")
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    idempotency_key = serializers.CharField(max_length=255, help_text="The service's unique id of this report: the same key again counts once.")


class InternalUsageStateSerializer(Serializer):
    used = serializers.IntegerField(help_text="This calendar month")
    limit = serializers.IntegerField(allow_null=True, help_text="null = unlimited")


class InternalPlanFeaturesSerializer(Serializer):
    code = serializers.CharField()
    limits = serializers.DictField(child=serializers.IntegerField(allow_null=True), help_text="limit name → value (null = unlimited)")
    features = serializers.DictField(child=serializers.BooleanField(), help_text="flag → bool")
