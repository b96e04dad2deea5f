"""Staff admin: SSO connections and the allauth apps they own, read-only (they change through the API's services, with audit events)."""

from allauth.socialaccount.models import SocialApp
from django.contrib import admin

from accounts.admin import SocialAppAdmin
from core.admin import ReadOnlyAdmin
from sso.models import SSOConnection


@admin.register(SSOConnection)
class SSOConnectionAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "kind", "enforce", "created_at"]
    list_filter = ["kind", "enforce"]
    search_fields = ["organization__name", "organization__slug", "name"]
    # `sealed` is left out on purpose: the ciphertext of the secrets is no one's business either.
    fields = ["id", "organization", "kind", "name", "domains", "enforce", "social_app", "issuer", "metadata_url", "created_at", "updated_at"]
    list_select_related = ["organization"]


class GuardedSocialAppAdmin(SocialAppAdmin):
    """accounts' SocialApp admin, read-only for the apps SSO connections own (one per connection, kept by sso.services)."""

    def _owned(self, obj) -> bool:
        return obj is not None and SSOConnection.objects.filter(social_app=obj).exists()

    def has_change_permission(self, request, obj=None):
        return not self._owned(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._owned(obj) and super().has_delete_permission(request, obj)


if admin.site.is_registered(SocialApp):
    admin.site.unregister(SocialApp)
admin.site.register(SocialApp, GuardedSocialAppAdmin)
