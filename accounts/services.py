"""Account writes: one-time tokens, registration, passwords, email verification, profile.

Sessions are in `accounts.sessions`, password sign-in in `accounts.login`, MFA in `accounts.mfa`.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from accounts import tasks
from accounts.authentication import session_state_forget
from accounts.models import OneTimeToken, User, UserSession
from accounts.sessions import session_create, sessions_revoke_all, sso_required, sso_required_error
from accounts.tokens import TokenPair, hash_secret, random_secret
from audit.services import event_record
from core import clock, hooks
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from core.services import model_update
from core.tasks import enqueue

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
    spent = OneTimeToken.objects.filter(token_hash=token_hash, purpose=purpose, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
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


# --- registration -----------------------------------------------------------------------


def password_validate(*, password: str, user: User | None = None, field: str = "password") -> None:
    """Run Django's password validators; raise a 400 with field-level messages."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=exc.messages[0], details={field: list(exc.messages)}) from exc


def _squash(value: str) -> str:
    return " ".join(value.split())


def user_names_resolve(
    *,
    full_name: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    user: User | None = None,
) -> dict[str, str]:
    """Return consistent `{full_name, first_name, last_name}` from the name fields a body gave.

    Parts win when given: `full_name` becomes "first last" (a part not given keeps `user`'s), and a
    `full_name` sent with them must say the same (400 otherwise). A `full_name` alone is split at
    its first space. Nothing given → `{}` (nothing changes).
    """
    if first_name is None and last_name is None:
        if full_name is None:
            return {}
        full = _squash(full_name)
        first, _, last = full.partition(" ")
        return {"full_name": full, "first_name": first, "last_name": last}
    first = _squash(first_name) if first_name is not None else (user.first_name if user else "")
    last = _squash(last_name) if last_name is not None else (user.last_name if user else "")
    full = " ".join(part for part in (first, last) if part)
    if full_name is not None and _squash(full_name) != full:
        raise validation_error("full_name", "`full_name` must equal `first_name` and `last_name` joined by a space.")
    limit = User._meta.get_field("full_name").max_length
    if len(full) > limit:
        raise validation_error("full_name", f"`first_name` and `last_name` together exceed {limit} characters.")
    return {"full_name": full, "first_name": first, "last_name": last}


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    full_name: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> User:
    """Create a user with an unverified email; 409 when the email is taken.

    Only `email_verify` (a token mailed to the address) marks an email verified (invariant 3).
    """
    email = User.objects.normalize_email(email)
    names = user_names_resolve(full_name=full_name, first_name=first_name, last_name=last_name)
    if User.objects.filter(email=email).exists():
        raise conflict("An account with this email already exists.", email=["An account with this email already exists."])
    candidate = User(email=email, **names)
    if password:
        password_validate(password=password, user=candidate)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, **names)
    except IntegrityError:
        raise conflict("An account with this email already exists.", email=["An account with this email already exists."]) from None
    return user


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    full_name: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    organization_name: str | None = None,
    organization_website: str | None = None,
    actor: Actor,
) -> tuple[User, object, TokenPair]:
    """Create an account (and, with `organization_name`, its organization) and sign it in."""
    user = user_create(email=email, password=password, full_name=full_name, first_name=first_name, last_name=last_name)
    actor = actor.as_user(user)
    organization = None
    if organization_name:
        organization = hooks.organization_create(
            user=user,
            name=organization_name,
            website=organization_website or "",
            actor=actor,
        )
    if sso_required(user=user):
        # An org enforces SSO at this address: its IdP makes the account (JIT) and signs it in; nothing is kept.
        raise sso_required_error()
    event_record(
        action="user.registered",
        actor=actor,
        organization_id=getattr(organization, "id", None),
        target=user,
    )
    email_verification_send(user=user)
    pair = session_create(user=user, actor=actor, organization_id=getattr(organization, "id", None))
    return user, organization, pair


# --- passwords --------------------------------------------------------------------------


@transaction.atomic
def password_change(*, user: User, current_password: str, new_password: str, actor: Actor, session_id=None) -> None:
    """Change a password after checking the current one; every other session is revoked."""
    if not user.has_usable_password() or not user.check_password(current_password):
        message = "Current password is incorrect."
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"current_password": [message]})
    password_validate(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    session = UserSession.objects.filter(id=session_id).first()
    event_record(
        action="user.password_changed",
        actor=actor,
        organization_id=session.organization_id if session else None,
        target=user,
    )
    sessions_revoke_all(user=user, reason="password_changed", except_session_id=session_id, actor=actor)


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
def password_reset(*, token: str, new_password: str, actor: Actor) -> User:
    """Set a new password with a reset token (single use); every session is revoked."""
    spent = one_time_token_consume(secret=token, purpose=OneTimeToken.Purpose.PASSWORD_RESET)
    user = spent.user
    # Whoever holds the token acts as its user.
    actor = actor.as_user(user)
    password_validate(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    # Other outstanding reset tokens die with this one.
    OneTimeToken.objects.filter(user=user, purpose=OneTimeToken.Purpose.PASSWORD_RESET, used_at__isnull=True).update(used_at=clock.now())
    event_record(
        action="user.password_reset",
        actor=actor,
        organization_id=hooks.default_organization(user=user),
        target=user,
    )
    sessions_revoke_all(user=user, reason="password_reset", actor=actor)
    if spent.data.get("email") == user.email:
        if user.email_verified_at is None:
            # Whoever held the account before the mailbox was proved may have linked their own
            # identity to it (a pre-account takeover): the mailbox owner starts without them.
            _identities_unproved_drop(user=user, actor=actor)
        # The token went to this address and only there: whoever spent it reads that mailbox.
        _email_verified_mark(user=user, actor=actor)
    return user


def _identities_unproved_drop(*, user: User, actor: Actor) -> None:
    """Unlink every third-party identity linked while the account's e-mail was unproved (audited)."""
    from allauth.socialaccount.models import SocialAccount  # allauth's models load after the apps

    linked = list(SocialAccount.objects.filter(user=user).values_list("provider", flat=True))
    if not linked:
        return
    SocialAccount.objects.filter(user=user).delete()
    event_record(
        action="user.identities_unlinked",
        actor=actor,
        organization_id=hooks.default_organization(user=user),
        target=user,
        changes={"providers": [sorted(linked), []]},
        metadata={"reason": "linked_before_email_proved"},
    )


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
def email_verify(*, token: str, actor: Actor) -> User:
    """Mark the email verified with a token issued for that same email."""
    spent = one_time_token_consume(secret=token, purpose=OneTimeToken.Purpose.EMAIL_VERIFY)
    user = spent.user
    if spent.data.get("email") != user.email:
        message = "This token was issued for another email address."
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"token": [message]})
    # Whoever holds the token acts as its user.
    _email_verified_mark(user=user, actor=actor.as_user(user))
    return user


def _email_verified_mark(*, user: User, actor: Actor) -> None:
    """Record that the user proved their mailbox (a token mailed there was spent), once."""
    if user.email_verified_at is not None:
        return
    user.email_verified_at = clock.now()
    user.save(update_fields=["email_verified_at", "updated_at"])
    event_record(
        action="user.email_verified",
        actor=actor,
        organization_id=hooks.default_organization(user=user),
        target=user,
    )
    hooks.domain_sign_in(user=user, actor=actor)


# --- profile ------------------------------------------------------------------------------


@transaction.atomic
def user_update(*, user: User, data: dict, actor: Actor, organization_id=None) -> User:
    """Update the profile fields a user may change on themselves (name fields kept consistent)."""
    names = user_names_resolve(
        full_name=data.get("full_name"),
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        user=user,
    )
    data = {**data, **names}
    user, changes = model_update(instance=user, fields=["full_name", "first_name", "last_name", "avatar_url", "phone"], data=data)
    if changes:
        event_record(
            action="user.updated",
            actor=actor,
            organization_id=organization_id,
            target=user,
            changes=changes,
        )
    return user


@transaction.atomic
def user_delete(*, user: User, password: str | None, actor: Actor) -> None:
    """Delete an account (GDPR erasure) after re-checking the password; refused for a blocking owner."""
    if user.has_usable_password() and not user.check_password(password or ""):
        message = "Password is incorrect."
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"password": [message]})
    reason = hooks.user_deletion_blocker(user=user)
    if reason:
        raise conflict(reason)
    session_ids = list(UserSession.objects.filter(user=user).values_list("id", flat=True))
    event_record(
        action="user.deleted",
        actor=actor,
        organization_id=None,
        target=user,
    )
    hooks.user_deleted(user=user)
    user.delete()
    for sid in session_ids:
        session_state_forget(sid)
