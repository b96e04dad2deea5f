"""Staff admin: OTP-verified sign-in; read-mostly account models whose secrets are never rendered."""

from allauth.socialaccount.models import SocialApp, SocialToken
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.views import PasswordChangeView
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa, services, sessions, staff
from accounts.admin_forms import StaffAuthenticationForm
from accounts.models import BackupCodeDevice, OneTimeToken, SigningKey, User, UserSession
from audit.services import event_record
from core import hooks
from core.actor import actor_of, principal_of
from core.admin import ReadOnlyAdmin


class _StaffPasswordChangeView(PasswordChangeView):
    """The admin's "change password" page, saved through the API's service: audited, every API session revoked."""

    def form_valid(self, form):
        # Django's own view only saves the hash: access and refresh tokens issued to the old
        # password would live on. The form has checked the current password and the validators.
        services.password_change(
            user=self.request.user,
            current_password=form.cleaned_data["old_password"],
            new_password=form.cleaned_data["new_password1"],
            actor=actor_of(self.request),
        )
        # This admin session stays signed in, as with Django's view.
        update_session_auth_hash(self.request, self.request.user)
        return HttpResponseRedirect(self.get_success_url())


class StaffAdminSite(OTPAdminSite):
    """The OTP-protected admin: one-step sign-in with a second factor; password change revokes API sessions."""

    # E-mail, password and a TOTP or backup code on one form (no device drop-down); staff without
    # MFA cannot enter at all (API.md v1.1 invariant 8).
    login_form = StaffAuthenticationForm
    login_template = "admin/staff_login.html"

    def has_permission(self, request):
        # STAFF_REQUIRE_PASSKEY: an admin session verified with TOTP or a backup code is not enough.
        return super().has_permission(request) and (not settings.STAFF_REQUIRE_PASSKEY or staff.passkey_verified(principal=principal_of(request)))

    def login(self, request, extra_context=None):
        return super().login(request, extra_context={"passkey_required": settings.STAFF_REQUIRE_PASSKEY, **(extra_context or {})})

    def get_app_list(self, request, app_label=None):
        # allauth's `account` app and ours are both called "Accounts": one section, not two.
        merged: dict[str, dict] = {}
        for app in super().get_app_list(request, app_label):
            section = merged.setdefault(str(app["name"]).casefold(), app)
            if section is not app:
                section["models"] = sorted([*section["models"], *app["models"]], key=lambda model: str(model["name"]))
        return list(merged.values())

    def password_change(self, request, extra_context=None):
        from django.contrib.admin.forms import AdminPasswordChangeForm

        request.current_app = self.name
        return _StaffPasswordChangeView.as_view(
            form_class=AdminPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )(request)


# Why: the admin must demand a second factor (a staff password alone is not enough). Re-classing
# the default site, instead of mounting a new OTPAdminSite, keeps every app's `admin.site.register`
# and the `admin:` URL names working; OTPAdminSite adds the OTP login form and `is_verified()`.
admin.site.__class__ = StaffAdminSite


def _replace(model, model_admin) -> None:
    """Register `model_admin` for `model`, dropping a third-party registration that shows secrets."""
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """Users: search and filter; the password hash is never part of the form or the lists."""

    list_display = ("email", "full_name", "is_active", "is_staff", "mfa_on", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("email", "full_name", "phone")
    ordering = ("-date_joined",)
    fields = (
        "id",
        "email",
        "full_name",
        "phone",
        "avatar_url",
        "email_verified_at",
        "is_active",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
        "date_joined",
        "last_login",
        "updated_at",
    )
    readonly_fields = ("id", "email", "email_verified_at", "date_joined", "last_login", "updated_at")
    _PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")
    filter_horizontal = ("groups", "user_permissions")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ("revoke_sessions", "reset_mfa")

    def get_queryset(self, request):
        confirmed_totp = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_mfa=Exists(confirmed_totp))

    @admin.display(boolean=True, description="MFA", ordering="has_mfa")
    def mfa_on(self, user: User) -> bool:
        return user.has_mfa

    def get_readonly_fields(self, request, obj=None):
        # Only a superuser may hand out staff or superuser rights.
        if request.user.is_superuser:
            return self.readonly_fields
        return self.readonly_fields + self._PRIVILEGE_FIELDS

    def has_add_permission(self, request):
        # Accounts are created through the API (password rules, verification email) or createsuperuser.
        return False

    def has_delete_permission(self, request, obj=None):
        # Deletion is the GDPR flow (DELETE users/me), which checks org ownership first.
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            changes = {field: [_plain(form.initial.get(field)), _plain(form.cleaned_data.get(field))] for field in form.changed_data}
            event_record(
                action="user.updated",
                actor=actor_of(request),
                organization_id=hooks.default_organization(user=obj),
                target=obj,
                changes=changes,
                metadata={"via": "admin"},
            )

    @admin.action(description="Revoke all sessions of the selected users", permissions=["change"])
    def revoke_sessions(self, request, queryset):
        actor = actor_of(request)
        revoked = sum(sessions.sessions_revoke_all(user=user, reason="revoked_by_staff", actor=actor) for user in queryset)
        self.message_user(request, f"{revoked} session(s) revoked.", messages.SUCCESS)

    @admin.action(description="Reset MFA of the selected users (lost device)", permissions=["change"])
    def reset_mfa(self, request, queryset):
        actor = actor_of(request)
        for user in queryset:
            mfa.mfa_reset(user=user, actor=actor)
        self.message_user(request, f"MFA reset for {queryset.count()} user(s).", messages.SUCCESS)


def _plain(value):
    """Make a form value JSON-friendly for the audit `changes` (m2m querysets become id lists)."""
    if hasattr(value, "values_list"):
        return sorted(str(pk) for pk in value.values_list("pk", flat=True))
    if isinstance(value, (list, tuple)):
        return sorted(str(getattr(item, "pk", item)) for item in value)
    return value


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    """Sign-in sessions (impersonations included); the refresh-token id is not shown."""

    list_display = ("user", "auth_method", "mfa_verified", "impersonator", "ip", "last_used_at", "revoked_at")
    list_filter = ("auth_method", "mfa_verified", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "impersonator__email", "ip")
    list_select_related = ("user", "impersonator")
    fields = (
        "id",
        "user",
        "organization_id",
        "auth_method",
        "mfa_verified",
        "impersonator",
        "impersonation_reason",
        "ip",
        "user_agent",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "revoked_reason",
    )
    actions = ("revoke",)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_usersession")

    @admin.action(description="Revoke the selected sessions", permissions=["revoke"])
    def revoke(self, request, queryset):
        actor = actor_of(request)
        for session in queryset:
            sessions.session_revoke(session=session, reason="revoked_by_staff", actor=actor)
        self.message_user(request, f"{queryset.count()} session(s) revoked.", messages.SUCCESS)


@admin.register(OneTimeToken)
class OneTimeTokenAdmin(ReadOnlyAdmin):
    """Email-verification, reset and MFA-challenge tokens; the token hash is never shown."""

    list_display = ("user", "purpose", "created_at", "expires_at", "used_at", "attempts")
    list_filter = ("purpose",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("id", "user", "purpose", "created_at", "expires_at", "used_at", "attempts", "data")


class TOTPDeviceAdmin(ReadOnlyAdmin):
    """TOTP devices without their key (django-otp's own admin shows it, and a QR code of it)."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    list_filter = ("confirmed",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = (
        "user",
        "name",
        "confirmed",
        "created_at",
        "last_used_at",
        "step",
        "digits",
        "tolerance",
        "throttling_failure_timestamp",
        "throttling_failure_count",
    )


class BackupCodeDeviceAdmin(ReadOnlyAdmin):
    """Backup-code sets: how many remain, never the codes or their hashes."""

    list_display = ("user", "name", "confirmed", "codes_remaining")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "codes_remaining")
    readonly_fields = ("codes_remaining",)

    def get_queryset(self, request):
        unused = Count("codes", filter=Q(codes__used_at__isnull=True))
        return super().get_queryset(request).annotate(unused_codes=unused)

    @admin.display(description="Codes remaining", ordering="unused_codes")
    def codes_remaining(self, device: BackupCodeDevice) -> int:
        return device.unused_codes


class SocialAppAdmin(admin.ModelAdmin):
    """OAuth apps without their client secret (configured from the environment)."""

    list_display = ("name", "provider", "client_id")
    exclude = ("secret", "key")


_replace(TOTPDevice, TOTPDeviceAdmin)
_replace(BackupCodeDevice, BackupCodeDeviceAdmin)
_replace(SocialApp, SocialAppAdmin)
# Provider access tokens have no business in the admin (allauth's admin shows them truncated).
if admin.site.is_registered(SocialToken):
    admin.site.unregister(SocialToken)


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    """JWT signing keys, browse only: `manage.py auth_rotate_signing_key` rotates (docs/signing-keys.md)."""

    list_display = ("kid", "algorithm", "state", "created_at", "verify_until", "retired_at")
    list_filter = ("state", "algorithm")
    # The public half only: the (encrypted) private half is never shown.
    fields = ("kid", "algorithm", "state", "public_key", "created_at", "demoted_at", "verify_until", "retired_at")
