"""Staff admin of SCIM tokens: read-only, never the hash; tokens are revoked through the token service.

Staff act as the platform operator (see organizations/admin.py): the "not on a better" check is a
no-op for them.
"""

from django.contrib import admin

from core.actor import actor_of
from core.admin import ReadOnlyAdmin, apply_each
from scim import tokens
from scim.models import ScimToken


def _staff_may(*args) -> None:
    """The org-level "not on a better" check, for staff."""


@admin.register(ScimToken)
class ScimTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "public_prefix", "organization", "state", "created_by", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "organization__name")
    list_select_related = ("organization", "created_by")
    # `secret_hash` is left out on purpose.
    fields = ("id", "organization", "name", "prefix", "state", "created_by", "created_at", "rotated_at", "last_used_at", "last_used_ip", "revoked_at")
    readonly_fields = ("state",)
    actions = ("revoke",)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("scim.change_scimtoken")

    @admin.display(description="Status")
    def state(self, token: ScimToken) -> str:
        return token.status

    @admin.action(description="Revoke the selected SCIM tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        actor = actor_of(request)
        apply_each(
            self,
            request,
            queryset,
            lambda token: tokens.token_revoke(token=token, actor=actor, ensure_not_better=_staff_may),
            done="{count} token(s) revoked.",
        )
