"""Staff admin of roles, policies and API keys: read-only; keys are revoked through the key service.

A key's secret and its hashes (current and previous) are never part of a page. Staff act as the
platform operator (see organizations/admin.py): the "not on a better" check is a no-op for them.
"""

from django.contrib import admin

from core.actor import actor_of
from core.admin import ReadOnlyAdmin, apply_each
from permissions import apikeys
from permissions.models import ApiKey, PlatformPermission, Policy, Role, RoleAssignment


def _staff_may(*args) -> None:
    """The org-level "not on a better" check, for staff."""


@admin.register(Role)
class RoleAdmin(ReadOnlyAdmin):
    list_display = ("slug", "name", "organization", "is_builtin", "permission_count")
    list_filter = ("is_builtin",)
    search_fields = ("slug", "name", "organization__name")
    list_select_related = ("organization",)
    fields = ("id", "organization", "slug", "name", "description", "is_builtin", "permissions", "created_at", "updated_at")

    @admin.display(description="Permissions")
    def permission_count(self, role: Role) -> int:
        return len(role.permissions or [])


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("user", "role", "organization", "created_at")
    search_fields = ("user__email", "role__slug", "organization__name")
    list_select_related = ("user", "role", "organization")
    fields = ("id", "organization", "user", "role", "assigned_by", "created_at")


@admin.register(PlatformPermission)
class PlatformPermissionAdmin(ReadOnlyAdmin):
    """Registered through `/api/v1/permissions` (staff with MFA), which checks codes in use and audits."""

    list_display = ("code", "description", "created_by", "created_at")
    search_fields = ("code", "description")
    list_select_related = ("created_by",)
    fields = ("id", "code", "description", "created_by", "created_at", "updated_at")


@admin.register(Policy)
class PolicyAdmin(ReadOnlyAdmin):
    list_display = ("name", "effect", "organization", "updated_at")
    list_filter = ("effect",)
    search_fields = ("name", "organization__name")
    list_select_related = ("organization",)
    fields = ("id", "organization", "name", "effect", "permissions", "subjects", "conditions", "created_at", "updated_at")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Organization API keys: prefix and metadata only, never the secret or its hashes."""

    list_display = ("name", "prefix", "organization", "state", "last_used_at", "expires_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "organization__name")
    list_select_related = ("organization",)
    # `secret_hash` and `previous_secret_hash` are left out on purpose.
    fields = (
        "id",
        "organization",
        "name",
        "prefix",
        "state",
        "scopes",
        "ip_allowlist",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "previous_prefix",
        "previous_valid_until",
        "revoked_at",
    )
    readonly_fields = ("state",)
    actions = ("revoke",)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("permissions.change_apikey")

    @admin.display(description="Status")
    def state(self, api_key: ApiKey) -> str:
        return api_key.status

    @admin.action(description="Revoke the selected keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        actor = actor_of(request)
        apply_each(
            self,
            request,
            queryset,
            lambda api_key: apikeys.api_key_revoke(api_key=api_key, ensure_not_better=_staff_may, actor=actor),
            done="{count} key(s) revoked.",
        )
