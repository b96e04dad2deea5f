"""Staff admin of tenants: read-mostly; every change is an action that calls the service (audited).

Staff act as the platform operator, outside an org's role hierarchy: the admin already demands a
session that passed MFA (API.md v1.1 invariant 8), so the org-level "no escalation" and "not on a
better" checks have nothing to compare staff against and are given as no-ops. The services' own
rules (the owner cannot be suspended, only a pending invite can be cancelled...) still refuse,
and the refusal is shown as an admin message.
"""

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from core import hooks
from core.actor import actor_of
from core.admin import ReadOnlyAdmin, ReadOnlyInline, apply_each
from organizations import invites, services
from organizations.models import Domain, Invite, Membership, Organization, Team, TeamMembership


def _staff_may(*args) -> None:
    """The org-level grant/"better" checks, for staff (see the module docstring)."""


def _admin_url(name: str, *args, query: str = "") -> str | None:
    try:
        return reverse(f"admin:{name}", args=args) + (f"?{query}" if query else "")
    except NoReverseMatch:  # the app is not installed (billing absent)
        return None


class MembershipInline(ReadOnlyInline):
    model = Membership
    fields = readonly_fields = ("user", "role", "status", "joined_at")
    show_change_link = True
    select_related = ("user",)


@admin.register(Organization)
class OrganizationAdmin(ReadOnlyAdmin):
    """Tenants with their members, plan, usage and a link to their audit log."""

    list_display = ("name", "slug", "members", "created_at")
    search_fields = ("name", "slug")
    date_hierarchy = "created_at"
    fields = ("id", "name", "slug", "website", "company_size", "plan", "usage", "audit_log", "settings", "created_at", "updated_at")
    readonly_fields = ("plan", "usage", "audit_log")
    inlines = (MembershipInline,)

    def get_queryset(self, request):
        active = Count("memberships", filter=Q(memberships__status=Membership.Status.ACTIVE))
        return super().get_queryset(request).annotate(active_members=active)

    @admin.display(description="Members", ordering="active_members")
    def members(self, organization: Organization) -> int:
        return organization.active_members

    @admin.display(description="Plan and subscription")
    def plan(self, organization: Organization):
        code = hooks.plan_claims(organization=organization).get("plan") or "-"
        url = _admin_url("billing_subscription_changelist", query=f"organization__id__exact={organization.pk}")
        if url is None:
            return code
        return format_html('{} (<a href="{}">subscription</a>)', code, url)

    @admin.display(description="Usage")
    def usage(self, organization: Organization):
        figures = {"active members": organization.active_members}
        for contribution in [*hooks.organization_stats(organization=organization), *hooks.usage_counts(organization=organization)]:
            figures.update(contribution or {})
        return format_html_join(", ", "{}: {}", ((name.replace("_", " "), value) for name, value in sorted(figures.items())))

    @admin.display(description="Audit log")
    def audit_log(self, organization: Organization):
        url = _admin_url("audit_auditevent_changelist", query=f"organization_id={organization.pk}")
        return format_html('<a href="{}">Events of this organization</a>', url) if url else "-"


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Members of every org; suspend or reactivate through the member service."""

    list_display = ("user", "organization", "role", "status", "joined_at")
    list_filter = ("status", "role")
    search_fields = ("user__email", "organization__name", "organization__slug")
    list_select_related = ("user", "organization")
    fields = ("id", "organization", "user", "role", "status", "status_reason", "display_name", "title", "joined_at", "updated_at")
    actions = ("suspend", "reactivate")

    def has_suspend_permission(self, request) -> bool:
        return request.user.has_perm("organizations.change_membership")

    def _status_set(self, request, queryset, status: str, done: str) -> None:
        actor = actor_of(request)
        apply_each(
            self,
            request,
            queryset.select_related("user", "organization"),
            lambda membership: services.member_update(
                membership=membership,
                actor=actor,
                actor_membership=None,
                data={"status": status},
                ensure_role_grantable=_staff_may,
                ensure_not_better=_staff_may,
            ),
            done=done,
            label=lambda membership: f"{membership.user.email} in {membership.organization.name}",
        )

    @admin.action(description="Suspend the selected members", permissions=["suspend"])
    def suspend(self, request, queryset):
        self._status_set(request, queryset, Membership.Status.SUSPENDED, "{count} member(s) suspended.")

    @admin.action(description="Reactivate the selected members", permissions=["suspend"])
    def reactivate(self, request, queryset):
        self._status_set(request, queryset, Membership.Status.ACTIVE, "{count} member(s) reactivated.")


class TeamMembershipInline(ReadOnlyInline):
    model = TeamMembership
    fields = readonly_fields = ("user", "added_at")
    select_related = ("user",)


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "size", "created_at")
    search_fields = ("name", "organization__name")
    list_select_related = ("organization",)
    fields = ("id", "organization", "name", "description", "created_at", "updated_at")
    inlines = (TeamMembershipInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="Members", ordering="member_count")
    def size(self, team: Team) -> int:
        return team.member_count


@admin.register(Invite)
class InviteAdmin(ReadOnlyAdmin):
    """Invitations; the code's hash is never shown. Cancel or resend through the invite service."""

    list_display = ("email", "organization", "role", "state", "expires_at")
    list_filter = ("status", "role")
    search_fields = ("email", "organization__name")
    list_select_related = ("organization",)
    fields = ("id", "organization", "email", "role", "state", "invited_by", "created_at", "expires_at", "responded_at")
    readonly_fields = ("state",)
    actions = ("cancel", "resend")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("organizations.change_invite")

    @admin.display(description="Status", ordering="status")
    def state(self, invite: Invite) -> str:
        return invite.effective_status

    @admin.action(description="Cancel the selected invitations", permissions=["cancel"])
    def cancel(self, request, queryset):
        actor = actor_of(request)
        apply_each(
            self,
            request,
            queryset,
            lambda invite: invites.invite_cancel(invite=invite, actor=actor),
            done="{count} invitation(s) cancelled.",
            label=_invite_label,
        )

    @admin.action(description="Resend the selected invitations (new code and expiry)", permissions=["cancel"])
    def resend(self, request, queryset):
        actor = actor_of(request)
        apply_each(
            self,
            request,
            queryset,
            lambda invite: invites.invite_resend(invite=invite, actor=actor),
            done="{count} invitation(s) sent again.",
            label=_invite_label,
        )


def _invite_label(invite: Invite) -> str:
    return f"Invitation of {invite.email}"


@admin.register(Domain)
class DomainAdmin(ReadOnlyAdmin):
    list_display = ("domain", "organization", "join_policy", "verified_at")
    list_filter = ("join_policy", ("verified_at", admin.EmptyFieldListFilter))
    search_fields = ("domain", "organization__name")
    list_select_related = ("organization",)
    fields = ("id", "organization", "domain", "join_policy", "verified_at", "created_at")
