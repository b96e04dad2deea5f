"""Staff impersonation: a short, audited, refresh-less session acting as another user."""
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from accounts.models import User, UserSession
from accounts.tokens import TokenPair, issue_pair
from audit.services import event_record
from core import clock, hooks
from core.errors import ErrorCode
from core.exceptions import ApplicationError


@transaction.atomic
def impersonation_start(*, staff_user: User, staff_token, target: User, reason: str, request=None) -> TokenPair:
    """Open an impersonation session (30 minutes at most) for an MFA-verified staff member."""
    if not staff_user.is_staff:
        raise ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message="Staff only.", status_code=403)
    if staff_token.get("act"):
        raise ApplicationError(
            code=ErrorCode.INSUFFICIENT_PERMISSIONS, message="Cannot impersonate while impersonating.", status_code=403
        )
    if not staff_token.get("mfa"):
        raise ApplicationError(
            code=ErrorCode.MFA_REQUIRED, message="Sign in with MFA to impersonate users.", status_code=403
        )
    if target.id == staff_user.id:
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message="You cannot impersonate yourself.",
            details={"user_id": ["You cannot impersonate yourself."]},
        )
    now = clock.now()
    organization_id = hooks.call(hooks.DEFAULT_ORGANIZATION, None, user=target)
    session = UserSession.objects.create(
        user=target,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(minutes=settings.IMPERSONATION_MINUTES),
        impersonator=staff_user,
        impersonation_reason=reason,
        organization_id=organization_id,
        auth_method="impersonation",
        mfa_verified=False,
    )
    event_record(
        action="user.impersonation_started",
        actor=staff_user,
        organization_id=organization_id,
        target=target,
        metadata={"reason": reason, "session_id": str(session.id)},
        request=request,
    )
    return issue_pair(user=target, session=session, with_refresh=False)


@transaction.atomic
def impersonation_stop(*, token, request=None) -> None:
    """End the impersonation session that `token` belongs to."""
    from accounts.services import session_revoke

    act = token.get("act") if token is not None else None
    if not act:
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR, message="This token is not an impersonation token.", details={}
        )
    session = UserSession.objects.select_related("user").filter(id=token.get("sid")).first()
    if session is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="Session not found.", status_code=404)
    session_revoke(session=session, reason="impersonation_stopped", actor=session.impersonator, request=request)
