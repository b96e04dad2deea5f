"""Account writes: registration, sign-in sessions, token rotation, passwords, email verification."""
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import tasks
from accounts.authentication import session_state_forget
from accounts.models import OneTimeToken, User, UserSession
from accounts.tokens import TokenPair, hash_secret, issue_pair, new_jti, random_secret
from audit.services import event_record
from core import clock, hooks
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict
from core.http import client_ip, user_agent
from core.tasks import enqueue
from core.services import model_update

logger = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Invalid email or password."


# --- one-time tokens -------------------------------------------------------------------


def one_time_token_issue(*, user: User, purpose: str, lifetime: timedelta, data: dict | None = None) -> str:
    """Create a single-use token and return its secret (only its hash is stored)."""
    secret = random_secret()
    OneTimeToken.objects.create(
        user=user,
        purpose=purpose,
        token_hash=hash_secret(secret),
        expires_at=clock.now() + lifetime,
        data=data or {},
    )
    return secret


def one_time_token_consume(*, secret: str, purpose: str) -> OneTimeToken:
    """Spend a token exactly once; raise a 400 naming `token` when it is unknown, used or expired."""
    token_hash = hash_secret(secret or "")
    now = clock.now()
    # A conditional UPDATE is the single-use guarantee, also under concurrent requests.
    spent = OneTimeToken.objects.filter(
        token_hash=token_hash, purpose=purpose, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    token = OneTimeToken.objects.select_related("user").filter(token_hash=token_hash, purpose=purpose).first()
    if spent != 1 or token is None:
        if token is not None and token.used_at is not None and token.used_at != now:
            message = "This token has already been used."
        elif token is not None and token.expires_at <= now:
            message = "This token has expired."
        else:
            message = "This token is invalid."
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"token": [message]})
    return token


# --- sessions and tokens ---------------------------------------------------------------


def session_create(
    *,
    user: User,
    request=None,
    mfa_verified: bool = False,
    organization_id=None,
    auth_method: str = "password",
) -> TokenPair:
    """Open a server-side session for a sign-in and return its first token pair."""
    if organization_id is None:
        organization_id = hooks.call(hooks.DEFAULT_ORGANIZATION, None, user=user)
    now = clock.now()
    session = UserSession.objects.create(
        user=user,
        created_at=now,
        last_used_at=now,
        expires_at=now + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"],
        ip=client_ip(request) if request is not None else None,
        user_agent=user_agent(request) if request is not None else "",
        refresh_jti=new_jti(),
        mfa_verified=mfa_verified,
        organization_id=organization_id,
        auth_method=auth_method,
    )
    return issue_pair(user=user, session=session)


def session_revoke(*, session: UserSession, reason: str, actor: User | None = None, request=None) -> None:
    """Revoke one session: its refresh token and every access token it issued stop working now."""
    updated = UserSession.objects.filter(id=session.id, revoked_at__isnull=True).update(
        revoked_at=clock.now(), revoked_reason=reason
    )
    # Now, so this process refuses the tokens at once; again after commit, in case another
    # request cached the session as active while this transaction was still open.
    session_state_forget(session.id)
    transaction.on_commit(lambda: session_state_forget(session.id))
    if updated:
        event_record(
            action="session.revoked",
            actor=actor,
            organization_id=session.organization_id,
            target=session,
            metadata={"reason": reason, "user_id": str(session.user_id)},
            request=request,
        )


def sessions_revoke_all(
    *, user: User, reason: str, except_session_id=None, actor: User | None = None, request=None
) -> int:
    """Revoke every live session of a user (but one, when given); return how many."""
    sessions = list(UserSession.objects.filter(user=user, revoked_at__isnull=True).exclude(id=except_session_id))
    for session in sessions:
        session_revoke(session=session, reason=reason, actor=actor, request=request)
    return len(sessions)


def token_refresh(*, refresh_token: str, request=None) -> TokenPair:
    """Rotate a refresh token; a rotated-out token presented again revokes its whole session."""
    try:
        token = RefreshToken(refresh_token)
    except ExpiredTokenError:
        raise ApplicationError(code=ErrorCode.TOKEN_EXPIRED, message="Refresh token has expired.", status_code=401)
    except TokenError:
        raise ApplicationError(code=ErrorCode.TOKEN_INVALID, message="Refresh token is invalid.", status_code=401)
    # Not the impersonator: impersonation sessions get no refresh token, so it is almost always
    # absent, and joining a second user row would cost every refresh.
    session = UserSession.objects.select_related("user").filter(id=token.get("sid")).first()
    if session is None or not session.is_active or not session.user.is_active:
        raise ApplicationError(code=ErrorCode.TOKEN_INVALID, message="Session has been revoked.", status_code=401)
    old_jti = token.get("jti")
    jti = new_jti()
    now = clock.now()
    # Compare-and-swap on the current jti: of two concurrent uses of one token, exactly one wins.
    rotated = UserSession.objects.filter(id=session.id, refresh_jti=old_jti, revoked_at__isnull=True).update(
        refresh_jti=jti,
        last_used_at=now,
        ip=client_ip(request) if request is not None else session.ip,
    )
    if rotated != 1:
        logger.warning("refresh token reuse detected; revoking session %s", session.id)
        session_revoke(session=session, reason="refresh_reuse", actor=None, request=request)
        raise ApplicationError(
            code=ErrorCode.TOKEN_INVALID,
            message="Refresh token was already used; the session has been revoked.",
            status_code=401,
        )
    session.refresh_jti = jti
    session.last_used_at = now
    return issue_pair(user=session.user, session=session)


def session_switch_organization(*, session: UserSession, organization_id) -> TokenPair:
    """Point a session at another active organization and re-issue its tokens (rotation)."""
    session.organization_id = organization_id
    session.refresh_jti = new_jti()
    session.last_used_at = clock.now()
    session.save(update_fields=["organization_id", "refresh_jti", "last_used_at"])
    return issue_pair(user=session.user, session=session, with_refresh=session.impersonator_id is None)


# --- registration and login -------------------------------------------------------------


def password_validate(*, password: str, user: User | None = None, field: str = "password") -> None:
    """Run Django's password validators; raise a 400 with field-level messages."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR, message=exc.messages[0], details={field: list(exc.messages)}
        )


@transaction.atomic
def user_create(*, email: str, password: str | None, full_name: str = "") -> User:
    """Create a user with an unverified email; 409 when the email is taken.

    Only `email_verify` (a token mailed to the address) marks an email verified (invariant 3).
    """
    email = User.objects.normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise conflict("An account with this email already exists.", email=["An account with this email already exists."])
    candidate = User(email=email, full_name=full_name)
    if password:
        password_validate(password=password, user=candidate)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                password=password,
                full_name=full_name,
            )
    except IntegrityError:
        raise conflict("An account with this email already exists.", email=["An account with this email already exists."])
    return user


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    full_name: str,
    organization_name: str | None = None,
    organization_website: str | None = None,
    request=None,
) -> tuple[User, object, TokenPair]:
    """Create an account (and, with `organization_name`, its organization) and sign it in."""
    user = user_create(email=email, password=password, full_name=full_name)
    organization = None
    if organization_name:
        organization = hooks.call(
            hooks.ORGANIZATION_CREATE,
            None,
            user=user,
            name=organization_name,
            website=organization_website or "",
            request=request,
        )
    event_record(
        action="user.registered",
        actor=user,
        organization_id=getattr(organization, "id", None),
        target=user,
        request=request,
    )
    email_verification_send(user=user)
    pair = session_create(user=user, request=request, organization_id=getattr(organization, "id", None))
    return user, organization, pair


def _lockout_error() -> ApplicationError:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return ApplicationError(
        code=ErrorCode.RATE_LIMIT_EXCEEDED,
        message=f"Too many failed sign-in attempts. Try again in {minutes} minutes.",
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(int(settings.AXES_COOLOFF_TIME.total_seconds()))},
    )


def credentials_check(*, request, email: str, password: str) -> User:
    """Check email + password through Django's authenticate (with django-axes lockout).

    The error is the same for an unknown email and a wrong password; a locked-out
    account or IP gets 429.
    """
    email = User.objects.normalize_email(email)
    django_request = getattr(request, "_request", request)
    user = authenticate(django_request, email=email, password=password)
    if getattr(django_request, "axes_locked_out", False):
        raise _lockout_error()
    if user is None:
        _login_failed_record(email=email, request=request)
        if getattr(django_request, "axes_locked_out", False):
            raise _lockout_error()
        raise ApplicationError(code=ErrorCode.AUTHENTICATION_FAILED, message=INVALID_CREDENTIALS, status_code=401)
    return user


def _login_failed_record(*, email: str, request) -> None:
    user = User.objects.filter(email=email).first()
    if user is None:
        return  # no org to record it under, and nothing to reveal
    # The login view runs outside a request transaction, so this survives the 401.
    event_record(
        action="user.login_failed",
        actor=user,
        organization_id=hooks.call(hooks.DEFAULT_ORGANIZATION, None, user=user),
        target=user,
        request=request,
    )


def user_login(*, request, email: str, password: str, organization_id=None) -> TokenPair | str:
    """Sign in with a password: a token pair, or an MFA challenge secret when MFA is on."""
    from accounts import mfa

    user = credentials_check(request=request, email=email, password=password)
    if organization_id is not None:
        # Checked before an MFA challenge is spent on a login that would fail anyway.
        organization_id = _organization_for_login(user=user, organization_id=organization_id)
    if mfa.mfa_enabled(user=user):
        return mfa.challenge_issue(user=user, organization_id=organization_id)
    return login_complete(user=user, request=request, organization_id=organization_id, mfa_verified=False)


def login_complete(
    *, user: User, request, organization_id=None, mfa_verified: bool, auth_method: str = "password"
) -> TokenPair:
    """Open the session of a successful sign-in and record it."""
    # Verified-domain memberships are offered (or granted) before the session picks its org.
    hooks.collect(hooks.DOMAIN_SIGN_IN, user=user, request=request)
    if organization_id is not None:
        organization_id = _organization_for_login(user=user, organization_id=organization_id)
    pair = session_create(
        user=user,
        request=request,
        mfa_verified=mfa_verified,
        organization_id=organization_id,
        auth_method=auth_method,
    )
    User.objects.filter(id=user.id).update(last_login=clock.now())
    event_record(
        action="user.logged_in",
        actor=user,
        organization_id=pair.session.organization_id,
        target=pair.session,
        metadata={"method": auth_method, "mfa": mfa_verified},
        request=request,
    )
    return pair


def _organization_for_login(*, user: User, organization_id):
    """Accept a requested active org only when the organizations app confirms membership."""
    summary = hooks.call(hooks.ORGANIZATION_SUMMARY, None, user=user, organization_id=organization_id)
    if summary is None:
        raise ApplicationError(
            code=ErrorCode.INVALID_ORG_CONTEXT,
            message="You are not an active member of this organization.",
            status_code=403,
        )
    return organization_id


# --- passwords --------------------------------------------------------------------------


@transaction.atomic
def password_change(*, user: User, current_password: str, new_password: str, session_id=None, request=None) -> None:
    """Change a password after checking the current one; every other session is revoked."""
    if not user.has_usable_password() or not user.check_password(current_password):
        message = "Current password is incorrect."
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR, message=message, details={"current_password": [message]}
        )
    password_validate(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    session = UserSession.objects.filter(id=session_id).first()
    event_record(
        action="user.password_changed",
        actor=user,
        organization_id=session.organization_id if session else None,
        target=user,
        request=request,
    )
    sessions_revoke_all(user=user, reason="password_changed", except_session_id=session_id, actor=user, request=request)


@transaction.atomic
def password_reset_request(*, email: str) -> None:
    """Email a reset link when the account exists; the caller answers 202 either way."""
    user = User.objects.filter(email=User.objects.normalize_email(email), is_active=True).first()
    if user is None:
        return
    secret = one_time_token_issue(
        user=user,
        purpose=OneTimeToken.Purpose.PASSWORD_RESET,
        lifetime=timedelta(minutes=settings.PASSWORD_RESET_TOKEN_MINUTES),
        # The address it is mailed to: spending it proves that mailbox (see password_reset).
        data={"email": user.email},
    )
    enqueue(tasks.send_password_reset_email, str(user.id), secret)


@transaction.atomic
def password_reset(*, token: str, new_password: str, request=None) -> User:
    """Set a new password with a reset token (single use); every session is revoked."""
    spent = one_time_token_consume(secret=token, purpose=OneTimeToken.Purpose.PASSWORD_RESET)
    user = spent.user
    password_validate(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    # Other outstanding reset tokens die with this one.
    OneTimeToken.objects.filter(user=user, purpose=OneTimeToken.Purpose.PASSWORD_RESET, used_at__isnull=True).update(
        used_at=clock.now()
    )
    event_record(
        action="user.password_reset",
        actor=user,
        organization_id=hooks.call(hooks.DEFAULT_ORGANIZATION, None, user=user),
        target=user,
        request=request,
    )
    sessions_revoke_all(user=user, reason="password_reset", actor=user, request=request)
    if spent.data.get("email") == user.email:
        # The token went to this address and only there: whoever spent it reads that mailbox.
        _email_verified_mark(user=user, request=request)
    return user


# --- email verification -------------------------------------------------------------------


def email_verification_send(*, user: User) -> None:
    """Issue a verification token for the user's current email and mail it after commit."""
    secret = one_time_token_issue(
        user=user,
        purpose=OneTimeToken.Purpose.EMAIL_VERIFY,
        lifetime=timedelta(hours=settings.EMAIL_VERIFY_TOKEN_HOURS),
        data={"email": user.email},
    )
    enqueue(tasks.send_verification_email, str(user.id), secret)


@transaction.atomic
def email_verify(*, token: str, request=None) -> User:
    """Mark the email verified with a token issued for that same email."""
    spent = one_time_token_consume(secret=token, purpose=OneTimeToken.Purpose.EMAIL_VERIFY)
    user = spent.user
    if spent.data.get("email") != user.email:
        message = "This token was issued for another email address."
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"token": [message]})
    _email_verified_mark(user=user, request=request)
    return user


def _email_verified_mark(*, user: User, request=None) -> None:
    """Record that the user proved their mailbox (a token mailed there was spent), once."""
    if user.email_verified_at is not None:
        return
    user.email_verified_at = clock.now()
    user.save(update_fields=["email_verified_at", "updated_at"])
    event_record(
        action="user.email_verified",
        actor=user,
        organization_id=hooks.call(hooks.DEFAULT_ORGANIZATION, None, user=user),
        target=user,
        request=request,
    )
    hooks.collect(hooks.DOMAIN_SIGN_IN, user=user, request=request)


# --- profile ------------------------------------------------------------------------------


@transaction.atomic
def user_update(*, user: User, data: dict, request=None, organization_id=None) -> User:
    """Update the profile fields a user may change on themselves."""
    user, changes = model_update(instance=user, fields=["full_name", "avatar_url", "phone"], data=data)
    if changes:
        event_record(
            action="user.updated",
            actor=user,
            organization_id=organization_id,
            target=user,
            changes=changes,
            request=request,
        )
    return user


@transaction.atomic
def user_delete(*, user: User, password: str | None, request=None) -> None:
    """Delete an account (GDPR erasure) after re-checking the password; refused for a blocking owner."""
    if user.has_usable_password() and not user.check_password(password or ""):
        message = "Password is incorrect."
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"password": [message]})
    reason = hooks.call(hooks.USER_DELETION_BLOCKER, None, user=user)
    if reason:
        raise conflict(reason)
    session_ids = list(UserSession.objects.filter(user=user).values_list("id", flat=True))
    event_record(
        action="user.deleted",
        actor=user,
        organization_id=None,
        target=user,
        request=request,
    )
    hooks.collect(hooks.USER_DELETED, user=user)
    user.delete()
    for sid in session_ids:
        session_state_forget(sid)
