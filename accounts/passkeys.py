"""Passkeys (WebAuthn) on django-otp-webauthn: register one as a second factor, sign in with it.

The ceremonies are django-otp-webauthn's (`WebAuthnHelper`, over py_webauthn): options, attestation
and assertion checks, the credential model with its sign counter and backup flags. What this module
adds is where a ceremony's state lives (the cache, not a Django session: the API has none) and who
may finish it:

- registration: keyed by the signing-in session (`sid`), so only the session that began it finishes it;
- passwordless sign-in: a single-use `challenge_id` (256 random bits) returned to the caller, only
  its hash names the cache entry;
- the second step of a password sign-in: keyed by the hash of that sign-in's `mfa_token`.

Every completion spends its state first (a delete that only one request can win), so an assertion
is never accepted twice.
"""

import hashlib
import hmac
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django_otp_webauthn.exceptions import OTPWebAuthnApiError
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential, WebAuthnUserHandle
from webauthn import generate_authentication_options
from webauthn.helpers import options_to_json_dict, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import PublicKeyCredentialDescriptor

from accounts import mfa
from accounts.login import _lockout_error
from accounts.models import User
from accounts.sessions import OrgSelection, login_finish, organization_for_login, sessions_revoke_all
from accounts.tokens import TokenPair, hash_secret, random_secret
from audit.services import event_record
from core import hooks
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, forbidden

logger = logging.getLogger(__name__)

MAX_PASSKEYS = 10
PASSKEY_NAME_MAX = 64
AUTH_METHOD_PASSKEY = "passkey"
# What py_webauthn and django-otp-webauthn raise for a malformed or failing credential (and the
# plain errors a hostile JSON shape can provoke while it is parsed).
_CEREMONY_ERRORS = (OTPWebAuthnApiError, WebAuthnException, ValueError, TypeError, KeyError, AttributeError)
STAFF_PASSKEY_RULE = (
    "Staff accounts add a passkey from a session that signed in with their second factor "
    "(an operator sets up the first one: manage.py accounts_totp_enroll <email>)."
)


class PasskeyHelper(WebAuthnHelper):
    """django-otp-webauthn's helper, used without a Django request (services take an actor)."""

    def __init__(self, request=None):
        super().__init__(request=request)


# --- ceremony state ----------------------------------------------------------------------------


def _state_seconds() -> int:
    return int(settings.OTP_WEBAUTHN_TIMEOUT_SECONDS)


def _register_key(session_id) -> str:
    return f"passkeys:register:{session_id}"


def _login_key(challenge_id: str) -> str:
    # Only the hash names the entry: the cache never holds a usable challenge id.
    return f"passkeys:login:{hash_secret(challenge_id or '')}"


def _mfa_key(mfa_token: str) -> str:
    return f"passkeys:mfa:{hash_secret(mfa_token or '')}"


def _state_pop(key: str) -> dict | None:
    """Spend a ceremony's state: of two concurrent completions only one gets it."""
    state = cache.get(key)
    # The delete is the spend; a cache that cannot answer refuses rather than allowing a replay.
    if not isinstance(state, dict) or not cache.delete(key):
        return None
    return state


def _state_invalid() -> ApplicationError:
    return ApplicationError(code=ErrorCode.TOKEN_INVALID, message="The passkey challenge is invalid, used or expired.", status_code=401)


def _ceremony_failed(field: str = "credential") -> ApplicationError:
    return ApplicationError(
        code=ErrorCode.VALIDATION_ERROR,
        message="The passkey could not be verified.",
        details={field: ["The passkey could not be verified."]},
    )


# --- registration ------------------------------------------------------------------------------


def _register_check(*, actor: Actor) -> User:
    """Refuse to add a factor unless the caller is the user in a session that may add one."""
    principal = actor.principal
    user = principal.user if principal.is_user else None
    if user is None or not principal.session_id:
        raise forbidden("Sign in to add a passkey.")
    if principal.is_impersonation:
        raise forbidden("Not allowed while impersonating.")
    # Staff: MFA turns a staff password into staff powers, so the first factor comes from an
    # operator (as for TOTP); a passkey is then added from a session that passed it.
    if user.is_staff and not principal.mfa:
        raise forbidden(STAFF_PASSKEY_RULE)
    # A stolen password alone must not add a factor to an account that already has one.
    if not principal.mfa and mfa.mfa_enabled(user=user):
        raise ApplicationError(code=ErrorCode.MFA_REQUIRED, message="Sign in with your second factor to add a passkey.", status_code=403)
    if WebAuthnCredential.objects.filter(user=user).count() >= MAX_PASSKEYS:
        raise conflict(f"At most {MAX_PASSKEYS} passkeys per account.")
    return user


def passkey_register_begin(*, actor: Actor) -> dict:
    """Start registering a passkey for the signed-in user: WebAuthn creation options (JSON)."""
    user = _register_check(actor=actor)
    options, state = PasskeyHelper().register_begin(user=user)
    # One pending registration per session: a new begin replaces the previous challenge.
    cache.set(_register_key(actor.principal.session_id), {**state, "user_id": str(user.id)}, _state_seconds())
    return options


def passkey_register_complete(*, actor: Actor, credential: dict, name: str = "") -> WebAuthnCredential:
    """Finish a registration begun by this session: verify the attestation and store the passkey.

    The first factor of an account turns MFA on: its other sessions are revoked (invariant 10).
    """
    user = _register_check(actor=actor)
    state = _state_pop(_register_key(actor.principal.session_id))
    if state is None or state.get("user_id") != str(user.id):
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message="Start the passkey registration first.",
            details={"credential": ["No pending passkey registration for this session."]},
        )
    try:
        return _register_store(user=user, actor=actor, state=state, credential=credential, name=name)
    except IntegrityError:
        raise conflict("This passkey is already registered.") from None
    except _CEREMONY_ERRORS as error:
        logger.info("passkey registration refused: %s", type(error).__name__)
        raise _ceremony_failed() from None


@transaction.atomic
def _register_store(*, user: User, actor: Actor, state: dict, credential: dict, name: str) -> WebAuthnCredential:
    was_enabled = mfa.mfa_enabled(user=user)
    device = PasskeyHelper().register_complete(user=user, state=state, data=credential)
    device.name = (name or "").strip()[:PASSKEY_NAME_MAX] or f"Passkey {WebAuthnCredential.objects.filter(user=user).count()}"
    device.save(update_fields=["name"])
    organization_id = actor.principal.organization_id or hooks.default_organization(user=user)
    event_record(
        action="mfa.passkey_registered",
        actor=actor,
        organization_id=organization_id,
        target=user,
        metadata={
            "method_id": mfa.method_id(mfa.METHOD_WEBAUTHN, device.pk),
            "name": device.name,
            "backup_eligible": device.backup_eligible,
            "backed_up": device.backup_state,
        },
    )
    if not was_enabled:
        revoked = sessions_revoke_all(user=user, reason="mfa_enabled", except_session_id=actor.principal.session_id, actor=actor)
        event_record(
            action="mfa.enabled",
            actor=actor,
            organization_id=organization_id,
            target=user,
            metadata={"sessions_revoked": revoked, "method": mfa.METHOD_WEBAUTHN},
        )
    return device


def passkey_as_method(device: WebAuthnCredential) -> dict:
    """A passkey as `auth/mfa` lists it, with its WebAuthn facts."""
    return {
        "id": mfa.method_id(mfa.METHOD_WEBAUTHN, device.pk),
        "type": mfa.METHOD_WEBAUTHN,
        "name": device.name,
        "created_at": device.created_at,
        "last_used_at": device.last_used_at,
        "backup_eligible": device.backup_eligible,
        "backed_up": device.backup_state,
        "discoverable": device.discoverable,
    }


# --- assertions --------------------------------------------------------------------------------


def _device_of(credential: dict) -> tuple[WebAuthnCredential | None, bytes | None]:
    """The stored passkey an assertion names, and the user handle it carries (if any)."""
    try:
        parsed = parse_authentication_credential_json(credential)
    except _CEREMONY_ERRORS:
        return None, None
    device = WebAuthnCredential.objects.select_related("user").filter(credential_id_sha256=hashlib.sha256(parsed.raw_id).hexdigest(), confirmed=True).first()
    return device, parsed.response.user_handle


def _user_handle_matches(*, user: User, user_handle: bytes | None) -> bool:
    if not user_handle:
        return True  # optional for non-discoverable use; the signature still binds the credential
    stored = WebAuthnUserHandle.objects.filter(user=user).values_list("handle_hex", flat=True).first()
    return stored is not None and hmac.compare_digest(stored, user_handle.hex())


def _assertion_verify(*, device: WebAuthnCredential, state: dict, credential: dict) -> tuple[WebAuthnCredential | None, str]:
    """Check an assertion against the stored passkey; return (device, "") or (None, reason).

    The device row is locked while its counter is compared and moved, so two assertions cannot
    both pass against the same stored count.
    """
    try:
        with transaction.atomic():
            WebAuthnCredential.objects.select_for_update().filter(pk=device.pk).first()
            return PasskeyHelper().authenticate_complete(user=device.user, state=state, data=credential), ""
    except _CEREMONY_ERRORS as error:
        # py_webauthn says so when the authenticator's counter did not move forward: a cloned key.
        reason = "counter_regression" if "sign count" in str(error).lower() else "invalid_assertion"
        logger.info("passkey assertion refused: %s (%s)", type(error).__name__, reason)
        return None, reason


def _request_options(*, allow_credentials: list[PublicKeyCredentialDescriptor], require_user_verification: bool) -> tuple[dict, dict]:
    helper = PasskeyHelper()
    kwargs = helper.get_generate_authentication_options_kwargs(user=None, require_user_verification=require_user_verification)
    kwargs["allow_credentials"] = allow_credentials
    options = options_to_json_dict(generate_authentication_options(**kwargs))
    options["extensions"] = helper.get_authentication_extensions()
    return options, helper.get_authentication_state(options)


def _descriptors_for(user: User | None, email: str) -> list[PublicKeyCredentialDescriptor]:
    """The user's credential ids, or a stable decoy for an unknown e-mail (no account enumeration).

    Transports are left out for everyone, so a real answer and a decoy have the same shape.
    """
    if user is not None:
        ids = WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("-last_used_at", "pk").values_list("credential_id", flat=True)
        ids = [bytes(credential_id) for credential_id in ids]
        if ids:
            return [PublicKeyCredentialDescriptor(id=credential_id) for credential_id in ids]
    decoy = hmac.new(settings.SECRET_KEY.encode(), f"passkey-decoy:{email}".encode(), hashlib.sha256).digest()
    return [PublicKeyCredentialDescriptor(id=decoy)]


# --- passwordless sign-in ----------------------------------------------------------------------


def passkey_login_begin(*, email: str | None = None) -> dict:
    """Start a passwordless sign-in: {challenge_id, options}.

    Without an e-mail the options name no credential (the authenticator offers its discoverable
    passkeys); with one, that account's credential ids (a decoy for an unknown e-mail) and only
    that account's passkey can finish it.
    """
    user = None
    descriptors: list[PublicKeyCredentialDescriptor] = []
    if email:
        email = User.objects.normalize_email(email).lower()
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        descriptors = _descriptors_for(user, email)
    options, state = _request_options(allow_credentials=descriptors, require_user_verification=True)
    challenge_id = random_secret()
    state = {**state, "bound": bool(email), "user_id": str(user.id) if user is not None else None}
    cache.set(_login_key(challenge_id), state, _state_seconds())
    return {"challenge_id": challenge_id, "options": options}


def _login_refused() -> ApplicationError:
    return ApplicationError(code=ErrorCode.AUTHENTICATION_FAILED, message="The passkey could not be verified.", status_code=401)


def passkey_login_complete(
    *, request, actor: Actor, challenge_id: str, credential: dict, organization_id=None, org_selection: bool = False
) -> TokenPair | OrgSelection:
    """Finish a passwordless sign-in: tokens (the session counts as MFA-verified), or an org selection.

    A passkey with user verification is two factors (the device and its PIN or biometric), so the
    session is marked `mfa`. Failures count towards django-axes' lockout like wrong passwords and
    are audited as `user.login_failed`; a locked-out account or IP gets 429 even with a good passkey.
    `request` is the HTTP request, for django-axes only.
    """
    from axes.handlers.proxy import AxesProxyHandler

    django_request = getattr(request, "_request", request)
    state = _state_pop(_login_key(challenge_id))
    if state is None:
        raise _state_invalid()
    device, user_handle = _device_of(credential if isinstance(credential, dict) else {})
    user = device.user if device is not None else None
    credentials = {"username": user.email if user is not None else ""}
    if AxesProxyHandler.is_locked(django_request, credentials):
        raise _lockout_error()
    reason = ""
    if user is None:
        reason = "unknown_credential"
    elif not user.is_active:
        reason = "inactive"
    elif state.get("bound") and state.get("user_id") != str(user.id):
        reason = "other_account"
    elif not _user_handle_matches(user=user, user_handle=user_handle):
        reason = "user_handle_mismatch"
    if not reason and organization_id is not None:
        # Checked before the assertion is spent on a sign-in that would fail anyway.
        organization_for_login(user=user, organization_id=organization_id)
    if not reason:
        device, reason = _assertion_verify(device=device, state=state, credential=credential)
    if reason:
        _login_failed(django_request=django_request, actor=actor, user=user, reason=reason, credentials=credentials)
        raise _login_refused()
    return _login_open(user=user, device=device, actor=actor, organization_id=organization_id, org_selection=org_selection)


def _login_failed(*, django_request, actor: Actor, user: User | None, reason: str, credentials: dict) -> None:
    from django.contrib.auth.signals import user_login_failed

    # django-axes counts it (per account and per IP) like a wrong password.
    user_login_failed.send(sender=__name__, credentials=credentials, request=django_request)
    if user is None:
        return  # no account to record it under, and nothing to reveal
    # The view runs outside a request transaction, so this survives the 401.
    event_record(
        action="user.login_failed",
        actor=actor.as_user(user),
        organization_id=hooks.default_organization(user=user),
        target=user,
        metadata={"via": AUTH_METHOD_PASSKEY, "reason": reason},
    )


@transaction.atomic
def _login_open(*, user: User, device: WebAuthnCredential, actor: Actor, organization_id, org_selection: bool) -> TokenPair | OrgSelection:
    result = login_finish(
        user=user,
        actor=actor,
        organization_id=organization_id,
        mfa_verified=True,
        auth_method=AUTH_METHOD_PASSKEY,
        org_selection=org_selection,
    )
    event_record(
        action="user.passkey_login",
        actor=actor.as_user(user),
        organization_id=result.session.organization_id if isinstance(result, TokenPair) else hooks.default_organization(user=user),
        target=user,
        metadata={"method_id": mfa.method_id(mfa.METHOD_WEBAUTHN, device.pk), "backed_up": device.backup_state},
    )
    return result


# --- the second step of a password sign-in -----------------------------------------------------


def passkey_challenge_begin(*, mfa_token: str) -> dict:
    """Start answering a sign-in's MFA challenge with a passkey: request options for the user's passkeys."""
    user = mfa.challenge_user(mfa_token=mfa_token)
    if user is None:
        raise ApplicationError(code=ErrorCode.TOKEN_INVALID, message="The MFA token is invalid, used or expired.", status_code=401)
    descriptors = WebAuthnCredential.get_credential_descriptors_for_user(user)
    if not descriptors:
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message="This account has no passkey.",
            details={"mfa_token": ["This account has no passkey; use a code."]},
        )
    options, state = _request_options(allow_credentials=descriptors, require_user_verification=False)
    # Bound to this sign-in: only its mfa_token finds the state again.
    cache.set(_mfa_key(mfa_token), {**state, "user_id": str(user.id)}, _state_seconds())
    return options


def passkey_challenge_complete(*, mfa_token: str, credential: dict, actor: Actor) -> TokenPair | OrgSelection:
    """Complete a sign-in's MFA challenge with a passkey assertion (tokens, or the org selection asked for)."""

    def verify(user: User) -> WebAuthnCredential | None:
        state = _state_pop(_mfa_key(mfa_token))
        if state is None or state.get("user_id") != str(user.id):
            return None
        device, user_handle = _device_of(credential if isinstance(credential, dict) else {})
        if device is None or device.user_id != user.id or not _user_handle_matches(user=user, user_handle=user_handle):
            return None
        return _assertion_verify(device=device, state=state, credential=credential)[0]

    return mfa.challenge_complete_passkey(mfa_token=mfa_token, actor=actor, verify=verify)


# --- the staff admin ---------------------------------------------------------------------------


def passkey_assertion_check(*, user: User, challenge_id: str, credential: dict) -> WebAuthnCredential | None:
    """Check an assertion for a sign-in begun with `passkey_login_begin(email=user's)`; the passkey, or None.

    For the admin's one-step sign-in, which has checked the password itself; spends the challenge.
    """
    state = _state_pop(_login_key(challenge_id))
    if state is None or not state.get("bound") or state.get("user_id") != str(user.id):
        return None
    device, user_handle = _device_of(credential if isinstance(credential, dict) else {})
    if device is None or device.user_id != user.id or not _user_handle_matches(user=user, user_handle=user_handle):
        return None
    return _assertion_verify(device=device, state=state, credential=credential)[0]
