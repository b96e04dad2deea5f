"""Organizations (tenants), their members, invitations, teams and claimed email domains."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from core import clock
from core.models import OrgScopedQuerySet


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user):
        """Organizations the user is an active member of."""
        return self.filter(memberships__user=user, memberships__status=Membership.Status.ACTIVE)


class Organization(models.Model):
    """A tenant: every org-scoped row hangs off one of these."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    website = models.URLField(max_length=200, blank=True)
    company_size = models.CharField(max_length=20, blank=True)
    # Contact details (seed 004); `phone` is stored in E.164 form (+<country><number>).
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=16, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    # Bumped by every role, assignment, membership or policy change: cached authorization
    # decisions are keyed by it, so a bump invalidates them all at once.
    authz_revision = models.PositiveBigIntegerField(default=1)
    # E-mail domains an SSO connection of this org enforces (kept by the sso app): a member at one
    # of them reaches the org only with a session opened through its IdP (the owner excepted).
    # Read with the (cached) org row on every org-scoped request, so the common case costs nothing.
    sso_enforced_domains = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(OrgScopedQuerySet):
    def active(self):
        return self.filter(status=Membership.Status.ACTIVE)


class Membership(models.Model):
    """A user's place in an organization: base role slug, status and per-org profile."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    # A built-in role slug (owner/admin/member/viewer) or a custom role's slug of this org.
    role = models.SlugField(max_length=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Why the member was suspended (revoke); cleared when they are reactivated.
    status_reason = models.CharField(max_length=500, blank=True, default="")
    display_name = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=100, blank=True)
    joined_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="organizations_membership_unique"),
            # Exactly one owner per org is enforced by services; at most one by the database.
            models.UniqueConstraint(fields=["organization"], condition=models.Q(role="owner"), name="organizations_single_owner"),
        ]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id} as {self.role}"


class InviteQuerySet(OrgScopedQuerySet):
    def pending(self):
        return self.filter(status=Invite.Status.PENDING, expires_at__gt=clock.now())


class Invite(models.Model):
    """An invitation by email; its code is shown once and stored only as a hash."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField(max_length=254)
    role = models.SlugField(max_length=50)
    code_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    teams = models.ManyToManyField("organizations.Team", blank=True, related_name="invites")
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    objects = InviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live invitation per address and org: re-inviting refreshes it.
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(status="pending"),
                name="organizations_invite_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"invite {self.email} to {self.organization_id}"

    @property
    def effective_status(self) -> str:
        if self.status == self.Status.PENDING and self.expires_at <= clock.now():
            return "expired"
        return self.status


class Team(models.Model):
    """A named group of members inside an organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=1000, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams")
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="organizations_team_name_unique")]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    added_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["added_at"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="organizations_team_member_unique")]


class Domain(models.Model):
    """An email domain an organization claims; verified through a DNS TXT record."""

    class JoinPolicy(models.TextChoices):
        INVITE = "invite"
        AUTO_JOIN = "auto_join"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253)
    join_policy = models.CharField(max_length=10, choices=JoinPolicy.choices, default=JoinPolicy.INVITE)
    verification_token = models.CharField(max_length=64)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "domain"], name="organizations_domain_unique"),
            # Once verified, a domain belongs to exactly one organization.
            models.UniqueConstraint(fields=["domain"], condition=models.Q(verified_at__isnull=False), name="organizations_domain_verified_once"),
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def verification_record(self) -> str:
        return f"saas-domain-verification={self.verification_token}"
