"""Multi-factor authentication with django-otp: TOTP devices, hashed backup codes, login challenges."""
import hashlib
import hmac
import io
import secrets
from datetime import timedelta

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import BackupCode, BackupCodeDevice, OneTimeToken, User
from accounts.tokens import TokenPair, hash_secret, random_secret
from audit.services import event_record
from core import clock, hooks
from core.errors import ErrorCode
from core.exceptions import ApplicationError

BACKUP_CODE_COUNT = 10
# No 0/O/1/I/L: codes are typed by hand from paper.
_BACKUP_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_MAX_CHALLENGE_ATTEMPTS = 5
TOTP_DEVICE_NAME = "default"


def _code_hash(code: str) -> str:
    # Keyed hash: backup codes carry ~50 bits, so a fast keyed hash (not a bare digest) is enough,
    # and verification stays cheap when the user's 10 codes are compared.
    normalized = code.replace("-", "").replace(" ", "").upper()
    key = hashlib.sha256(("backup-codes:" + settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def _new_backup_code() -> str:
    raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def mfa_enabled(*, user: User) -> bool:
    """Tell whether sign-in needs a second factor."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_status(*, user: User) -> dict:
    """Return {enabled, methods, backup_codes_remaining}."""
    enabled = mfa_enabled(user=user)
    remaining = BackupCode.objects.filter(device__user=user, device__confirmed=True, used_at__isnull=True).count()
    methods = ["totp", "backup_codes"] if enabled else []
    return {"enabled": enabled, "methods": methods, "backup_codes_remaining": remaining if enabled else 0}


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@transaction.atomic
def totp_enroll(*, user: User) -> dict:
    """Start TOTP enrollment: a new unconfirmed device; returns {secret, otpauth_url, qr_svg}."""
    if mfa_enabled(user=user):
        raise ApplicationError(code=ErrorCode.CONFLICT, message="MFA is already enabled.", status_code=409)
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode().rstrip("=")
    url = device.config_url
    return {"secret": secret, "otpauth_url": url, "qr_svg": _qr_svg(url)}


def _backup_codes_replace(*, user: User) -> list[str]:
    device, _ = BackupCodeDevice.objects.get_or_create(user=user, defaults={"name": "backup codes", "confirmed": True})
    device.codes.all().delete()
    codes = [_new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    BackupCode.objects.bulk_create([BackupCode(device=device, code_hash=_code_hash(code)) for code in codes])
    return codes


def _invalid_code() -> ApplicationError:
    return ApplicationError(
        code=ErrorCode.VALIDATION_ERROR, message="Invalid verification code.", details={"code": ["Invalid verification code."]}
    )


@transaction.atomic
def totp_confirm(*, user: User, code: str, request=None, organization_id=None) -> list[str]:
    """Confirm enrollment with a first code; MFA is on from now; returns 10 fresh backup codes."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        if mfa_enabled(user=user):
            raise ApplicationError(code=ErrorCode.CONFLICT, message="MFA is already enabled.", status_code=409)
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message="Start enrollment first.",
            details={"code": ["No pending TOTP enrollment."]},
        )
    if not device.verify_token(code):
        raise _invalid_code()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _backup_codes_replace(user=user)
    event_record(action="mfa.enabled", actor=user, organization_id=organization_id, target=user, request=request)
    return codes


def mfa_code_verify(*, user: User, code: str) -> str | None:
    """Check a TOTP code or an unused backup code; return which method matched, or None."""
    code = (code or "").strip()
    if not code or len(code) > 32:
        return None
    device = _confirmed_totp(user)
    if device is None:
        return None
    if code.isdigit() and device.verify_token(code):
        return "totp"
    backup = BackupCodeDevice.objects.filter(user=user, confirmed=True).first()
    if backup is not None and backup.verify_token(code):
        return "backup_code"
    return None


def backup_code_consume(*, device: BackupCodeDevice, code: str) -> bool:
    """Spend one backup code; a conditional UPDATE makes each code single-use under concurrency."""
    return (
        BackupCode.objects.filter(device=device, code_hash=_code_hash(code), used_at__isnull=True).update(
            used_at=clock.now()
        )
        == 1
    )


@transaction.atomic
def backup_codes_regenerate(*, user: User, code: str, request=None, organization_id=None) -> list[str]:
    """Replace every backup code after a valid TOTP code."""
    device = _confirmed_totp(user)
    if device is None:
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message="MFA is not enabled.", details={"code": ["MFA is not enabled."]})
    if not device.verify_token(code):
        raise _invalid_code()
    codes = _backup_codes_replace(user=user)
    event_record(
        action="mfa.backup_codes_regenerated", actor=user, organization_id=organization_id, target=user, request=request
    )
    return codes


@transaction.atomic
def totp_disable(*, user: User, code: str, request=None, organization_id=None) -> None:
    """Turn MFA off after a valid TOTP or backup code; every device and code is removed."""
    if not mfa_enabled(user=user):
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message="MFA is not enabled.", details={"code": ["MFA is not enabled."]})
    if mfa_code_verify(user=user, code=code) is None:
        raise _invalid_code()
    TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    event_record(action="mfa.disabled", actor=user, organization_id=organization_id, target=user, request=request)


def challenge_issue(*, user: User, organization_id=None, auth_method: str = "password") -> str:
    """Create the short-lived, single-use `mfa_token` that stands between password and tokens."""
    secret = random_secret()
    OneTimeToken.objects.create(
        user=user,
        purpose=OneTimeToken.Purpose.MFA_CHALLENGE,
        token_hash=hash_secret(secret),
        expires_at=clock.now() + timedelta(seconds=settings.MFA_CHALLENGE_SECONDS),
        data={"organization_id": str(organization_id) if organization_id else None, "auth_method": auth_method},
    )
    return secret


def challenge_complete(*, mfa_token: str, code: str, request) -> TokenPair:
    """Finish a sign-in: a valid code spends the challenge and opens an MFA-verified session.

    Runs outside the request transaction so failed attempts are counted durably.
    """
    from accounts.services import login_complete

    now = clock.now()
    challenge = (
        OneTimeToken.objects.select_related("user")
        .filter(
            token_hash=hash_secret(mfa_token or ""),
            purpose=OneTimeToken.Purpose.MFA_CHALLENGE,
            used_at__isnull=True,
            expires_at__gt=now,
        )
        .first()
    )
    if challenge is None or challenge.attempts >= _MAX_CHALLENGE_ATTEMPTS or not challenge.user.is_active:
        raise ApplicationError(
            code=ErrorCode.TOKEN_INVALID, message="The MFA token is invalid, used or expired.", status_code=401
        )
    user = challenge.user
    method = mfa_code_verify(user=user, code=code)
    if method is None:
        OneTimeToken.objects.filter(id=challenge.id).update(attempts=challenge.attempts + 1)
        event_record(
            action="mfa.verification_failed",
            actor=user,
            organization_id=hooks.call(hooks.DEFAULT_ORGANIZATION, None, user=user),
            target=user,
            request=request,
        )
        raise _invalid_code()
    with transaction.atomic():
        spent = OneTimeToken.objects.filter(id=challenge.id, used_at__isnull=True).update(used_at=now)
        if spent != 1:
            raise ApplicationError(
                code=ErrorCode.TOKEN_INVALID, message="The MFA token is invalid, used or expired.", status_code=401
            )
        return login_complete(
            user=user,
            request=request,
            organization_id=challenge.data.get("organization_id"),
            mfa_verified=True,
            auth_method=challenge.data.get("auth_method") or "password",
        )
