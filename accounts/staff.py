"""Staff impersonation: a short, audited, refresh-less session acting as another user."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from rest_framework.permissions import BasePermission

from accounts.models import User, UserSession
from accounts.tokens import TokenPair, issue_pair
from audit.services import event_record
from core import clock, hooks
from core.actor import Actor, Principal, principal_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError, forbidden, not_found


def staff_power_check(*, principal: Principal, action: str) -> None:
    """Refuse a staff power to anyone but an active staff member signed in as themselves with MFA."""
    if principal.is_impersonation:
        raise forbidden(f"Cannot {action} while impersonating.")
    user = principal.user if principal.is_user else None
    if not (user is not None and user.is_authenticated and user.is_active and user.is_staff):
        raise forbidden("Staff only.")
    # Invariant 8: the claim mirrors the session's MFA state, which only a second-factor sign-in sets.
    if not principal.mfa:
        raise ApplicationError(code=ErrorCode.MFA_REQUIRED, message=f"Sign in with MFA to {action}.", status_code=403)
    if settings.STAFF_REQUIRE_PASSKEY and not passkey_verified(principal=principal):
        raise ApplicationError(code=ErrorCode.MFA_REQUIRED, message=f"Sign in with a passkey to {action}.", status_code=403)


# A session's `auth_method` when a passkey signed it in ("passkey") or was its second factor ("password+passkey").
_PASSKEY_METHOD = "passkey"


def passkey_verified(*, principal: Principal) -> bool:
    """Tell whether the principal's sign-in used a passkey (`STAFF_REQUIRE_PASSKEY`).

    A bearer token: its session's `auth_method`. A Django session (the admin): the device
    django-otp verified it with.
    """
    if principal.session_id:
        auth_method = UserSession.objects.filter(id=principal.session_id).values_list("auth_method", flat=True).first() or ""
        return auth_method == _PASSKEY_METHOD or auth_method.endswith(f"+{_PASSKEY_METHOD}")
    device = getattr(principal.user, "otp_device", None)
    return device is not None and device._meta.label_lower == "django_otp_webauthn.webauthncredential"


def impersonation_check(*, principal: Principal) -> None:
    """Refuse anyone but an MFA-verified staff member who is not already impersonating."""
    # An impersonation token must never mint another one (no chains, no escalation).
    staff_power_check(principal=principal, action="impersonate users")


class CanImpersonate(BasePermission):
    """DRF permission: checked before the body is read, so non-staff learn nothing about users."""

    def has_permission(self, request, view) -> bool:
        impersonation_check(principal=principal_of(request))
        return True


class NotImpersonating(BasePermission):
    """DRF permission: account-security changes are never made through an impersonation token."""

    message = "Not allowed while impersonating."

    def has_permission(self, request, view) -> bool:
        return not principal_of(request).is_impersonation


def _impersonation_target(user_id) -> User:
    target = User.objects.filter(id=user_id, is_active=True).first()
    if target is None:
        raise not_found("User not found.")
    # Acting as another staff member (or a superuser) would be a privilege escalation.
    if target.is_staff or target.is_superuser:
        raise forbidden("Staff accounts cannot be impersonated.")
    return target


@transaction.atomic
def impersonation_start(*, actor: Actor, user_id, reason: str) -> tuple[User, TokenPair]:
    """Open an impersonation session (30 minutes at most); return the target and its access token."""
    impersonation_check(principal=actor.principal)
    staff_user = actor.user
    target = _impersonation_target(user_id)
    now = clock.now()
    organization_id = hooks.default_organization(user=target)
    session = UserSession.objects.create(
        user=target,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(minutes=settings.IMPERSONATION_MINUTES),
        ip=actor.ip,
        user_agent=actor.user_agent,
        impersonator=staff_user,
        impersonation_reason=reason,
        organization_id=organization_id,
        auth_method="impersonation",
        # The target's second factor was not presented: policies needing MFA stay closed.
        mfa_verified=False,
    )
    event_record(
        action="user.impersonation_started",
        actor=actor,
        organization_id=organization_id,
        target=target,
        metadata={"reason": reason, "session_id": str(session.id)},
    )
    # No refresh token: the session cannot outlive its first access token's window.
    return target, issue_pair(user=target, session=session, with_refresh=False)


@transaction.atomic
def impersonation_stop(*, actor: Actor) -> None:
    """End the impersonation session the actor's token belongs to."""
    from accounts.sessions import session_revoke

    if not actor.principal.is_impersonation:
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message="This token is not an impersonation token.")
    session = UserSession.objects.select_related("user", "impersonator").filter(id=actor.principal.session_id, impersonator__isnull=False).first()
    if session is None:
        raise not_found("Session not found.")
    # The staff member ends it: recorded as them (the impersonation is named too).
    actor = actor.as_user(session.impersonator)
    event_record(
        action="user.impersonation_stopped",
        actor=actor,
        organization_id=session.organization_id,
        target=session.user,
        metadata={"session_id": str(session.id)},
    )
    session_revoke(session=session, reason="impersonation_stopped", actor=actor)
