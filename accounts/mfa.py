"""Multi-factor authentication with django-otp: TOTP devices, hashed backup codes, login challenges."""

import io
import math
import secrets
from base64 import b32encode
from datetime import timedelta

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import BackupCode, BackupCodeDevice, OneTimeToken, User
from accounts.sessions import OrgSelection, login_finish, sessions_revoke_all
from accounts.tokens import TokenPair, hash_secret, random_secret
from audit.services import event_record
from core import clock, hooks
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, forbidden, not_found

BACKUP_CODE_COUNT = 10
# No 0/O/1/I/L: codes are typed by hand from paper.
_BACKUP_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_MAX_CHALLENGE_ATTEMPTS = 5
_MAX_CODE_LENGTH = 32
TOTP_DEVICE_NAME = "default"
BACKUP_DEVICE_NAME = "backup codes"


# --- codes ---------------------------------------------------------------------------------


def _new_backup_code() -> str:
    raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _invalid_code() -> ApplicationError:
    return ApplicationError(
        code=ErrorCode.VALIDATION_ERROR,
        message="Invalid verification code.",
        details={"code": ["Invalid verification code."]},
    )


def _not_enabled() -> ApplicationError:
    return ApplicationError(code=ErrorCode.VALIDATION_ERROR, message="MFA is not enabled.", details={"code": ["MFA is not enabled."]})


def _already_enabled() -> ApplicationError:
    return ApplicationError(code=ErrorCode.CONFLICT, message="MFA is already enabled.", status_code=409)


# --- TOTP devices ----------------------------------------------------------------------------


def _confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def _totp_shaped(device: TOTPDevice, code: str) -> bool:
    return code.isdigit() and len(code) == device.digits


def _totp_throttle_check(device: TOTPDevice) -> None:
    """Raise 429 while django-otp's back-off (after wrong codes) still blocks the device."""
    allowed, info = device.verify_is_allowed()
    if allowed:
        return
    locked_until = (info or {}).get("locked_until")
    wait = math.ceil((locked_until - clock.now()).total_seconds()) if locked_until else 1
    wait = max(wait, 1)
    raise ApplicationError(
        code=ErrorCode.RATE_LIMIT_EXCEEDED,
        message=f"Too many wrong codes. Try again in {wait} seconds.",
        status_code=429,
        headers={"Retry-After": str(wait)},
    )


def _totp_check(device: TOTPDevice, code: str) -> bool:
    """Verify a TOTP code; the device row is locked so a code is accepted once even under concurrency."""
    code = code.replace(" ", "")
    if not _totp_shaped(device, code):
        return False
    _totp_throttle_check(device)
    # Own (short) transaction: the failure counter and `last_t` (replay guard) must persist even
    # when the caller answers with an error, so callers run outside the request transaction.
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        return locked.verify_token(code)


def confirmed_factors(*, user: User) -> list[QuerySet]:
    """The user's confirmed second factors, one queryset per kind (TOTP devices, passkeys)."""
    return [TOTPDevice.objects.filter(user=user, confirmed=True), WebAuthnCredential.objects.filter(user=user, confirmed=True)]


def mfa_enabled(*, user: User) -> bool:
    """Tell whether sign-in needs a second factor (a confirmed TOTP device or a passkey)."""
    return any(factors.exists() for factors in confirmed_factors(user=user))


def _mfa_required(action: str) -> ApplicationError:
    return ApplicationError(code=ErrorCode.MFA_REQUIRED, message=f"Sign in with your second factor to {action}.", status_code=403)


# --- methods ---------------------------------------------------------------------------------

# A method id is `<type>_<device pk>`: stable for the device's life, and the type prefix means an
# id can never name a device of another kind (pks of different device tables overlap).
METHOD_TOTP = "totp"
METHOD_BACKUP_CODES = "backup_codes"
METHOD_WEBAUTHN = "webauthn"
# Every type `auth/mfa` may list (`webauthn`: passkeys, accounts.passkeys).
METHOD_TYPES = (METHOD_TOTP, METHOD_BACKUP_CODES, METHOD_WEBAUTHN)
_METHOD_MODELS = {METHOD_TOTP: TOTPDevice, METHOD_BACKUP_CODES: BackupCodeDevice, METHOD_WEBAUTHN: WebAuthnCredential}


def method_id(kind: str, pk) -> str:
    """Return the public id of a second-factor device."""
    return f"{kind}_{pk}"


def _method_parse(value: str) -> tuple[str, int] | None:
    kind, _, pk = (value or "").rpartition("_")
    if kind not in _METHOD_MODELS or not pk.isdigit() or len(pk) > 18:
        return None
    return kind, int(pk)


def mfa_methods(*, user: User) -> list[dict]:
    """The user's confirmed second factors: [{id, type, name, created_at, last_used_at}], TOTP first, passkeys last.

    Backup codes are listed only alongside TOTP (they are its fallback, never a factor alone);
    their set has no creation time (`created_at` null) and was last used when its latest code was.
    """
    methods = [
        {"id": method_id(METHOD_TOTP, d.pk), "type": METHOD_TOTP, "name": d.name, "created_at": d.created_at, "last_used_at": d.last_used_at}
        for d in TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk")
    ]
    if methods:
        backups = BackupCodeDevice.objects.filter(user=user, confirmed=True).annotate(last_used=Max("codes__used_at")).order_by("pk")
        methods += [
            {"id": method_id(METHOD_BACKUP_CODES, d.pk), "type": METHOD_BACKUP_CODES, "name": d.name, "created_at": None, "last_used_at": d.last_used}
            for d in backups
        ]
    methods += [
        {"id": method_id(METHOD_WEBAUTHN, d.pk), "type": METHOD_WEBAUTHN, "name": d.name, "created_at": d.created_at, "last_used_at": d.last_used_at}
        for d in WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("pk")
    ]
    return methods


def mfa_status(*, user: User) -> dict:
    """Return {enabled, methods, backup_codes_remaining}."""
    methods = mfa_methods(user=user)
    if not methods:
        return {"enabled": False, "methods": [], "backup_codes_remaining": 0}
    remaining = BackupCode.objects.filter(device__user=user, device__confirmed=True, used_at__isnull=True).count()
    return {"enabled": True, "methods": methods, "backup_codes_remaining": remaining}


def mfa_method_remove(*, user: User, method_id: str, code: str, actor: Actor, organization_id=None) -> None:
    """Remove one second factor after a valid current code (TOTP or backup code).

    Removing TOTP removes the backup codes with it (`mfa.disabled` when no passkey is left).
    Removing the backup codes leaves TOTP on (`mfa.method_removed`). A passkey is removed with a
    code when the user has TOTP, else from a session that passed MFA (a passkey-only account has
    no code to type); removing the last factor turns MFA off. An id that is not one of the user's
    confirmed methods is 404, checked before the code so no backup code is spent on it.
    """
    parsed = _method_parse(method_id)
    if parsed is None or not _METHOD_MODELS[parsed[0]].objects.filter(user=user, confirmed=True, pk=parsed[1]).exists():
        raise not_found("No such MFA method.")
    kind, pk = parsed
    if kind == METHOD_WEBAUTHN and _confirmed_totp(user) is None:
        # Why: the password alone (a session without MFA) must not be able to strip a factor.
        if not actor.principal.mfa:
            raise _mfa_required("remove a passkey")
    elif mfa_code_verify(user=user, code=code) is None:
        raise _invalid_code()
    metadata = {"method_id": method_id, "type": kind}
    if kind == METHOD_TOTP:
        _mfa_remove(user=user, actor=actor, organization_id=organization_id, metadata=metadata)
    elif kind == METHOD_WEBAUTHN:
        _passkey_remove(user=user, pk=pk, actor=actor, organization_id=organization_id, metadata=metadata)
    else:
        _backup_codes_remove(user=user, pk=pk, actor=actor, organization_id=organization_id, metadata=metadata)


@transaction.atomic
def _passkey_remove(*, user: User, pk: int, actor: Actor, organization_id, metadata: dict) -> None:
    removed, _ = WebAuthnCredential.objects.filter(user=user, pk=pk).delete()
    if removed:
        action = "mfa.method_removed" if mfa_enabled(user=user) else "mfa.disabled"
        event_record(action=action, actor=actor, organization_id=organization_id, target=user, metadata=metadata)


@transaction.atomic
def _backup_codes_remove(*, user: User, pk: int, actor: Actor, organization_id, metadata: dict) -> None:
    removed, _ = BackupCodeDevice.objects.filter(user=user, pk=pk).delete()
    if removed:
        event_record(action="mfa.method_removed", actor=actor, organization_id=organization_id, target=user, metadata=metadata)


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


STAFF_ENROLL_BY_OPERATOR = "Staff accounts get their authenticator from an operator: manage.py accounts_totp_enroll <email>."


@transaction.atomic
def totp_enroll(*, user: User, by_operator: bool = False, session_mfa: bool = False) -> dict:
    """Start TOTP enrollment: a new unconfirmed device; returns {secret, otpauth_url, qr_svg}.

    A staff account enrolls only through an operator (`by_operator`, the management command):
    MFA is what turns a staff password into staff powers, so the password alone must not be
    enough to set it up. An account that already has a passkey adds TOTP only from a session
    that passed MFA (`session_mfa`).
    """
    if _confirmed_totp(user) is not None:
        raise _already_enabled()
    if user.is_staff and not by_operator:
        raise forbidden(STAFF_ENROLL_BY_OPERATOR)
    if not by_operator and not session_mfa and mfa_enabled(user=user):
        raise _mfa_required("add an authenticator app")
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    url = device.config_url
    return {"secret": b32encode(device.bin_key).decode().rstrip("="), "otpauth_url": url, "qr_svg": _qr_svg(url)}


def _backup_codes_replace(*, user: User) -> list[str]:
    device, _ = BackupCodeDevice.objects.get_or_create(user=user, defaults={"name": BACKUP_DEVICE_NAME, "confirmed": True})
    codes = [_new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    device.codes_replace(codes)
    return codes


def totp_confirm(*, user: User, code: str, actor: Actor, organization_id=None, session_id=None) -> list[str]:
    """Confirm enrollment with a first code; MFA is on from now and every other session is revoked.

    Returns 10 fresh backup codes. `session_id` (the confirming session) stays signed in.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        if _confirmed_totp(user) is not None:
            raise _already_enabled()
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message="Start enrollment first.",
            details={"code": ["No pending TOTP enrollment."]},
        )
    if not _totp_check(device, code):
        raise _invalid_code()
    return _totp_activate(device=device, user=user, actor=actor, organization_id=organization_id, session_id=session_id)


@transaction.atomic
def _totp_activate(*, device: TOTPDevice, user: User, actor: Actor, organization_id, session_id) -> list[str]:
    # Conditional UPDATE: of two concurrent confirmations only one activates and mints codes.
    if TOTPDevice.objects.filter(id=device.id, confirmed=False).update(confirmed=True) != 1:
        raise _already_enabled()
    codes = _backup_codes_replace(user=user)
    # Invariant 10: sessions opened with the password alone (perhaps by whoever made the user enrol)
    # must not outlive the switch to MFA; each revocation is audited as `session.revoked`.
    revoked = sessions_revoke_all(user=user, reason="mfa_enabled", except_session_id=session_id, actor=actor)
    event_record(
        action="mfa.enabled",
        actor=actor,
        organization_id=organization_id,
        target=user,
        metadata={"sessions_revoked": revoked},
    )
    return codes


def mfa_code_verify(*, user: User, code: str) -> str | None:
    """Check a TOTP code or an unused backup code; return which method matched, or None.

    A TOTP-shaped code (all digits, the device's length) is only tried as TOTP, anything else
    only as a backup code, so backup codes neither feed nor suffer TOTP throttling.
    """
    code = (code or "").strip()
    if not code or len(code) > _MAX_CODE_LENGTH:
        return None
    device = _confirmed_totp(user)
    if device is None:
        return None
    if _totp_shaped(device, code.replace(" ", "")):
        return "totp" if _totp_check(device, code) else None
    backup = BackupCodeDevice.objects.filter(user=user, confirmed=True).first()
    if backup is not None and backup.verify_token(code):
        return "backup_code"
    return None


def mfa_throttle_check(*, user: User, code: str) -> None:
    """Raise 429 when `code` is a TOTP code and the user's device is in django-otp's back-off."""
    device = _confirmed_totp(user)
    if device is not None and _totp_shaped(device, (code or "").strip().replace(" ", "")):
        _totp_throttle_check(device)


def backup_codes_regenerate(*, user: User, code: str, actor: Actor, organization_id=None) -> list[str]:
    """Replace every backup code after a valid TOTP code."""
    device = _confirmed_totp(user)
    if device is None:
        raise _not_enabled()
    if not _totp_check(device, code or ""):
        raise _invalid_code()
    return _backup_codes_renew(user=user, actor=actor, organization_id=organization_id)


@transaction.atomic
def _backup_codes_renew(*, user: User, actor: Actor, organization_id) -> list[str]:
    codes = _backup_codes_replace(user=user)
    event_record(action="mfa.backup_codes_regenerated", actor=actor, organization_id=organization_id, target=user)
    return codes


def totp_disable(*, user: User, code: str, actor: Actor, organization_id=None) -> None:
    """Remove TOTP and its backup codes after a valid TOTP or backup code (MFA is off unless a passkey remains)."""
    if _confirmed_totp(user) is None:
        raise _not_enabled()
    if mfa_code_verify(user=user, code=code) is None:
        raise _invalid_code()
    _mfa_remove(user=user, actor=actor, organization_id=organization_id, metadata={})


def mfa_reset(*, user: User, actor: Actor) -> None:
    """Remove every second factor of a user for them (staff, e.g. a lost phone), passkeys included; recorded as `mfa.disabled`."""
    organization_id = hooks.default_organization(user=user)
    _mfa_remove(user=user, actor=actor, organization_id=organization_id, metadata={"by_staff": True}, passkeys=True)


@transaction.atomic
def factors_remove_all(*, user: User, actor: Actor, organization_id, reason: str) -> None:
    """Remove every second factor of the account (TOTP, backup codes, passkeys), audited with `reason`."""
    _mfa_remove(user=user, actor=actor, organization_id=organization_id, metadata={"reason": reason}, passkeys=True)


def _mfa_remove(*, user: User, actor: Actor, organization_id, metadata: dict, passkeys: bool = False) -> None:
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    if passkeys:
        removed += WebAuthnCredential.objects.filter(user=user).delete()[0]
    if removed:
        event_record(
            # Passkeys left: MFA stays on, only this method went.
            action="mfa.method_removed" if mfa_enabled(user=user) else "mfa.disabled",
            actor=actor,
            organization_id=organization_id,
            target=user,
            metadata=metadata,
        )


# --- sign-in challenges ------------------------------------------------------------------------


def challenge_issue(*, user: User, organization_id=None, auth_method: str = "password", org_selection: bool = False) -> str:
    """Create the short-lived, single-use `mfa_token` that stands between password and tokens.

    `org_selection`: the sign-in asked to pick its org, which happens once the code is verified.
    """
    secret = random_secret()
    OneTimeToken.objects.create(
        user=user,
        purpose=OneTimeToken.Purpose.MFA_CHALLENGE,
        token_hash=hash_secret(secret),
        expires_at=clock.now() + timedelta(seconds=settings.MFA_CHALLENGE_SECONDS),
        data={
            "organization_id": str(organization_id) if organization_id else None,
            "auth_method": auth_method,
            "org_selection": bool(org_selection),
        },
    )
    return secret


def _challenge_invalid() -> ApplicationError:
    return ApplicationError(code=ErrorCode.TOKEN_INVALID, message="The MFA token is invalid, used or expired.", status_code=401)


def _live_challenges(mfa_token: str):
    return OneTimeToken.objects.filter(
        token_hash=hash_secret(mfa_token or ""),
        purpose=OneTimeToken.Purpose.MFA_CHALLENGE,
        used_at__isnull=True,
        expires_at__gt=clock.now(),
        attempts__lt=_MAX_CHALLENGE_ATTEMPTS,
    )


def challenge_complete(*, mfa_token: str, code: str, actor: Actor) -> TokenPair | OrgSelection:
    """Finish a sign-in: a valid code spends the challenge and opens an MFA-verified session.

    When the sign-in asked for org selection, the answer is that selection instead (MFA passed).

    Runs outside the request transaction so failed attempts are counted durably.
    """
    challenge = _live_challenges(mfa_token).select_related("user").first()
    if challenge is None or not challenge.user.is_active:
        raise _challenge_invalid()
    user = challenge.user
    actor = actor.as_user(user)
    mfa_throttle_check(user=user, code=code)
    # Count the attempt before checking the code: concurrent guesses cannot exceed the limit.
    if _live_challenges(mfa_token).update(attempts=F("attempts") + 1) != 1:
        raise _challenge_invalid()
    method = mfa_code_verify(user=user, code=code)
    if method is None:
        event_record(
            action="mfa.verification_failed",
            actor=actor,
            organization_id=hooks.default_organization(user=user),
            target=user,
        )
        raise _invalid_code()
    return _challenge_finish(challenge=challenge, method=method, actor=actor)


def challenge_user(*, mfa_token: str) -> User | None:
    """The active user a live sign-in challenge belongs to, or None."""
    challenge = _live_challenges(mfa_token).select_related("user").first()
    if challenge is None or not challenge.user.is_active:
        return None
    return challenge.user


def challenge_complete_passkey(*, mfa_token: str, actor: Actor, verify) -> TokenPair | OrgSelection:
    """Finish a sign-in with a passkey assertion: `verify(user)` checks it and returns the device, or None.

    Counted against the challenge's attempts like a code; the session's `auth_method` gets a
    `+passkey` suffix, which is what `STAFF_REQUIRE_PASSKEY` looks for.
    """
    challenge = _live_challenges(mfa_token).select_related("user").first()
    if challenge is None or not challenge.user.is_active:
        raise _challenge_invalid()
    user = challenge.user
    actor = actor.as_user(user)
    if _live_challenges(mfa_token).update(attempts=F("attempts") + 1) != 1:
        raise _challenge_invalid()
    if verify(user) is None:
        event_record(
            action="mfa.verification_failed",
            actor=actor,
            organization_id=hooks.default_organization(user=user),
            target=user,
            metadata={"method": METHOD_WEBAUTHN},
        )
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message="The passkey could not be verified.",
            details={"credential": ["The passkey could not be verified."]},
        )
    return _challenge_finish(challenge=challenge, method=PASSKEY_AUTH_SUFFIX, actor=actor)


# Appended to a session's `auth_method` when its second factor was a passkey ("password+passkey").
PASSKEY_AUTH_SUFFIX = "passkey"


@transaction.atomic
def _challenge_finish(*, challenge: OneTimeToken, method: str, actor: Actor) -> TokenPair | OrgSelection:
    # Conditional UPDATE: one challenge opens at most one session, even under concurrent use.
    if OneTimeToken.objects.filter(id=challenge.id, used_at__isnull=True).update(used_at=clock.now()) != 1:
        raise _challenge_invalid()
    result = login_finish(
        user=challenge.user,
        actor=actor,
        organization_id=challenge.data.get("organization_id"),
        mfa_verified=True,
        auth_method=_auth_method(challenge.data.get("auth_method") or "password", method),
        org_selection=bool(challenge.data.get("org_selection")),
    )
    if method == "backup_code":
        # The user is told (audit/export) whenever one of their paper codes is spent.
        organization_id = result.session.organization_id if isinstance(result, TokenPair) else hooks.default_organization(user=challenge.user)
        event_record(
            action="mfa.backup_code_used",
            actor=actor,
            organization_id=organization_id,
            target=challenge.user,
        )
    return result


def _auth_method(first: str, method: str) -> str:
    return f"{first}+{PASSKEY_AUTH_SUFFIX}" if method == PASSKEY_AUTH_SUFFIX else first
