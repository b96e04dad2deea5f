"""Request and response shapes of the invitation, team and domain endpoints."""

from rest_framework import serializers

from accounts.api.serializers import NameInputSerializer
from core.serializers import ModelSerializer, Serializer
from organizations.models import Domain, Invite, Team, TeamMembership

INVITE_STATUSES = ["pending", "expired", "accepted", "declined", "cancelled"]
# A plain string in the schema: another `status` enum would collide with the members' one.
STATUS_HELP = "One of: " + ", ".join(INVITE_STATUSES) + " (expired = pending past its expiry)."


# --- invitations ----------------------------------------------------------------------------


class TeamBriefSerializer(Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class InviteCreateSerializer(Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.SlugField(max_length=50)
    team_ids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=100, default=list)


class InviteSerializer(ModelSerializer):
    """An invitation as the organization sees it (never with its code)."""

    status = serializers.CharField(source="effective_status", read_only=True, help_text=STATUS_HELP)
    teams = TeamBriefSerializer(many=True, read_only=True)
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = Invite
        fields = ["id", "email", "role", "status", "teams", "invited_by", "created_at", "expires_at", "responded_at"]
        read_only_fields = fields

    def get_invited_by(self, invite) -> dict | None:
        user = invite.invited_by
        if user is None:
            return None
        return {"id": str(user.id), "email": user.email, "full_name": user.full_name, "first_name": user.first_name, "last_name": user.last_name}


class InviteIssuedSerializer(InviteSerializer):
    """The create/resend response: the only time the code (and its link) is shown."""

    code = serializers.CharField(read_only=True)
    invite_url = serializers.CharField(read_only=True)

    class Meta(InviteSerializer.Meta):
        fields = ["id", "email", "role", "code", "invite_url", "expires_at", "status", "teams", "invited_by", "created_at", "responded_at"]
        read_only_fields = fields

    def to_representation(self, issued):
        body = super().to_representation(issued.invite)
        body["code"] = issued.code
        body["invite_url"] = issued.invite_url
        return body


class OrganizationPublicSerializer(Serializer):
    name = serializers.CharField()
    slug = serializers.CharField()


class PublicInviteSerializer(Serializer):
    """What the holder of a code may see before answering."""

    organization = OrganizationPublicSerializer()
    email = serializers.EmailField()
    role = serializers.CharField()
    expires_at = serializers.DateTimeField()
    status = serializers.CharField(source="effective_status", help_text=STATUS_HELP)


class InviteAcceptSerializer(NameInputSerializer):
    """Signed in: no body. Anonymous: the new account's name (any of the name forms) and password."""

    password = serializers.CharField(max_length=256, required=False, write_only=True, trim_whitespace=False)


class OrganizationMembershipSerializer(Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()


class InviteAcceptedSerializer(Serializer):
    """A signed-in user's accept: the organization joined and the role held."""

    organization = OrganizationMembershipSerializer()
    role = serializers.CharField()


# --- teams ------------------------------------------------------------------------------------


class TeamSerializer(ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "description", "member_count", "created_at", "updated_at"]
        read_only_fields = ["id", "member_count", "created_at", "updated_at"]


class TeamWriteSerializer(Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class TeamMemberSerializer(ModelSerializer):
    """A team member, flat: user fields + their org role + when they joined the team."""

    user_id = serializers.UUIDField(source="user.id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    avatar_url = serializers.CharField(source="user.avatar_url", read_only=True)
    role = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = TeamMembership
        fields = ["user_id", "email", "full_name", "first_name", "last_name", "avatar_url", "role", "added_at"]
        read_only_fields = fields


class TeamMemberAddSerializer(Serializer):
    user_id = serializers.UUIDField()


class TeamListEnvelopeSerializer(Serializer):
    data = TeamSerializer(many=True)


# --- domains ----------------------------------------------------------------------------------


class DomainSerializer(ModelSerializer):
    verified = serializers.SerializerMethodField()
    verification_record = serializers.CharField(read_only=True, help_text="Publish this value as a DNS TXT record of the domain, then call verify.")

    class Meta:
        model = Domain
        fields = ["id", "domain", "join_policy", "verification_record", "verified", "verified_at", "created_at"]
        read_only_fields = fields

    def get_verified(self, domain) -> bool:
        return domain.verified_at is not None


class DomainCreateSerializer(Serializer):
    domain = serializers.CharField(max_length=253)
    join_policy = serializers.ChoiceField(choices=Domain.JoinPolicy.choices, default=Domain.JoinPolicy.INVITE)


class DomainListEnvelopeSerializer(Serializer):
    data = DomainSerializer(many=True)
