"""Organization API keys: secrets and their keyed hashes, reads, and the services that issue and retire keys.

A secret reads `sk_live_<prefix>_<random>`. The prefix is public and finds the row (the API lists
it as `sk_live_<prefix>`, the literal start of the secret: `ApiKey.public_prefix`); only an HMAC
of the whole secret is stored.
"""

import hmac
import re
import secrets
import string
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.crypto import get_random_string, salted_hmac

from audit.services import event_record
from core import clock, entitlements
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from core.net import cidrs_normalize, ip_in_cidrs, ip_parse
from organizations.models import Membership, Organization
from organizations.services import MemberCheck
from permissions import catalog
from permissions.models import ApiKey
from permissions.services import GrantCheck

SECRET_START = ApiKey.SECRET_START
PREFIX_LENGTH = 12
_PREFIX_CHARS = string.ascii_letters + string.digits  # no "_": the prefix ends at the first one
_RANDOM_BYTES = 32
_SECRET_RE = re.compile(rf"^{SECRET_START}([A-Za-z0-9]{{{PREFIX_LENGTH}}})_[A-Za-z0-9_-]{{32,128}}$")
MAX_SECRET_LENGTH = len(SECRET_START) + PREFIX_LENGTH + 1 + 128
_HASH_SALT = "permissions.apikeys.secret"
USAGE_WRITE_SECONDS = 60
STATUSES = ("active", "expired", "revoked")


class ApiKeyRejected(Exception):
    """A secret that does not authenticate, with the contract code to answer (TOKEN_INVALID / TOKEN_EXPIRED)."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --- secrets and hashes -----------------------------------------------------------------------


def secret_hash(secret: str, *, signing_key: str | None = None) -> str:
    """HMAC-SHA256 of the whole secret under a key derived from SECRET_KEY (hex, 64 chars)."""
    # Why a fast keyed hash and not Argon2: the secret carries 256 random bits, so slowing
    # down guesses buys nothing, while every API request pays for the check. Keying it with
    # SECRET_KEY means a leaked table alone cannot even confirm a candidate secret.
    return salted_hmac(_HASH_SALT, secret, secret=signing_key, algorithm="sha256").hexdigest()


def _hash_matches(secret: str, stored: str) -> bool:
    if not stored:
        return False
    # SECRET_KEY_FALLBACKS keep keys working while Django's own secret is being rotated.
    for signing_key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        # compare_digest: the time taken must not tell how much of the hash matched.
        if hmac.compare_digest(secret_hash(secret, signing_key=signing_key), stored):
            return True
    return False


def secret_prefix(secret: str) -> str | None:
    """The public prefix of a well-formed secret, or None for anything else."""
    # Length first: never run the regex (or a hash) over a megabyte of header.
    if len(secret) > MAX_SECRET_LENGTH:
        return None
    match = _SECRET_RE.match(secret)
    return match.group(1) if match else None


def _new_secret() -> tuple[str, str]:
    """A fresh (prefix, secret) whose prefix no key uses, now or as its previous prefix."""
    for _ in range(5):
        prefix = get_random_string(PREFIX_LENGTH, _PREFIX_CHARS)
        if not ApiKey.objects.filter(Q(prefix=prefix) | Q(previous_prefix=prefix)).exists():
            return prefix, f"{SECRET_START}{prefix}_{secrets.token_urlsafe(_RANDOM_BYTES)}"
    raise RuntimeError("could not draw an unused API key prefix")  # 62**12 prefixes: never in practice


def ip_allowed(api_key: ApiKey, ip: str | None) -> bool:
    """An empty allowlist allows every address; otherwise the client IP must fall in one CIDR."""
    return not api_key.ip_allowlist or ip_in_cidrs(ip, api_key.ip_allowlist)


# --- authentication ---------------------------------------------------------------------------


def api_key_authenticate(*, secret: str, ip: str | None) -> ApiKey:
    """The key this secret opens (its current secret, or its previous one within the rotation grace)."""
    prefix = secret_prefix(secret)
    if prefix is None:
        raise ApiKeyRejected(ErrorCode.TOKEN_INVALID, "API key is invalid.")
    api_key = (
        # The creator comes in the same query: the key acts for them (permissions.engine.api_key_subject).
        ApiKey.objects.select_related("organization", "created_by").filter(Q(prefix=prefix) | Q(previous_prefix=prefix)).first()
    )
    now = clock.now()
    if api_key is None:
        # Hash anyway so an unknown prefix costs the same as a wrong secret.
        _hash_matches(secret, "0" * 64)
        raise ApiKeyRejected(ErrorCode.TOKEN_INVALID, "API key is invalid.")
    if api_key.prefix == prefix:
        valid = _hash_matches(secret, api_key.secret_hash)
    else:
        # The secret replaced by a rotation works only until its grace period ends.
        in_grace = api_key.previous_valid_until is not None and api_key.previous_valid_until > now
        valid = _hash_matches(secret, api_key.previous_secret_hash) and in_grace
    if not valid or api_key.revoked_at is not None:
        raise ApiKeyRejected(ErrorCode.TOKEN_INVALID, "API key is invalid.")
    if not ip_allowed(api_key, ip):
        # Same answer as an unknown key: a stolen key used from elsewhere learns nothing.
        raise ApiKeyRejected(ErrorCode.TOKEN_INVALID, "API key is invalid.")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise ApiKeyRejected(ErrorCode.TOKEN_EXPIRED, "API key has expired.")
    return api_key


def api_key_touch(*, api_key: ApiKey, ip: str | None) -> bool:
    """Record the key's last use (time and IP), at most once a minute per key; tell whether it wrote."""
    # A busy key would otherwise write its row on every request: the row authentication just
    # loaded says when it was last written, and the conditional UPDATE keeps concurrent
    # requests from writing more than once per window.
    now = clock.now()
    window_start = now - timedelta(seconds=USAGE_WRITE_SECONDS)
    if api_key.last_used_at is not None and api_key.last_used_at > window_start:
        return False
    address = ip_parse(ip)
    # A bad address (a forged X-Forwarded-For) is stored as unknown, never written to an inet column.
    last_ip = str(address) if address is not None else None
    written = (
        ApiKey.objects.filter(id=api_key.id)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=window_start))
        .update(last_used_at=now, last_used_ip=last_ip)
    )
    if written:
        api_key.last_used_at, api_key.last_used_ip = now, last_ip
    return bool(written)


# --- reads ------------------------------------------------------------------------------------


def _active_q(now: datetime) -> Q:
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def api_key_list(*, organization: Organization, status: str | None = None) -> QuerySet[ApiKey]:
    """The org's keys, newest first, optionally only those of one status."""
    qs = ApiKey.objects.for_organization(organization).select_related("created_by")
    now = clock.now()
    if status == "active":
        qs = qs.filter(_active_q(now))
    elif status == "revoked":
        qs = qs.filter(revoked_at__isnull=False)
    elif status == "expired":
        qs = qs.filter(revoked_at__isnull=True, expires_at__lte=now)
    return qs.order_by("-created_at", "-id")


def api_key_get(*, organization: Organization, key_id) -> ApiKey:
    """One key of the org (404 for any other, whichever org it belongs to)."""
    api_key = api_key_list(organization=organization).filter(id=key_id).first()
    if api_key is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="API key not found.", status_code=404)
    return api_key


def api_key_active_count(*, organization: Organization) -> int:
    """Keys that count toward the plan's `max_api_keys` (neither revoked nor expired)."""
    return ApiKey.objects.for_organization(organization).filter(_active_q(clock.now())).count()


# --- writes -----------------------------------------------------------------------------------


def _scopes_validate(*, scopes: list[str] | None, grantable: frozenset[str]) -> list[str]:
    if scopes is None:
        return sorted(grantable)
    unknown = sorted({s for s in scopes if not catalog.is_declared(s)})
    if unknown:
        raise validation_error("scopes", f"Unknown permissions: {', '.join(unknown)}.")
    # No escalation: a key never holds more than the one who made it.
    beyond = sorted(set(scopes) - set(grantable))
    if beyond:
        raise validation_error("scopes", f"You cannot grant permissions you do not hold: {', '.join(beyond)}.")
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    grantable: frozenset[str],
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    ip_allowlist: list[str] | None = None,
    created_by=None,
    actor: Actor,
) -> tuple[ApiKey, str]:
    """Issue a key and return it with its secret (the only time the secret exists in clear).

    `grantable` is what the caller holds effectively right now (roles minus denies, with the
    request's facts): the default scopes and their upper bound. `created_by` is the member the
    key acts for; a key made without one never authenticates.
    """
    scopes = _scopes_validate(scopes=scopes, grantable=grantable)
    if expires_at is not None and expires_at <= clock.now():
        raise validation_error("expires_at", "Must be in the future.")
    try:
        ip_allowlist = cidrs_normalize(ip_allowlist or [])
    except ValueError as exc:
        raise validation_error("ip_allowlist", str(exc)) from exc
    # Lock the org row so two concurrent creations cannot both squeeze under the plan limit.
    Organization.objects.select_for_update().filter(id=organization.id).first()
    entitlements.require(organization, "max_api_keys", used=api_key_active_count(organization=organization))
    prefix, secret = _new_secret()
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash(secret),
        scopes=scopes,
        ip_allowlist=ip_allowlist,
        expires_at=expires_at,
        created_by=created_by,
    )
    event_record(
        action="api_key.created",
        actor=actor,
        organization_id=organization.id,
        target=api_key,
        changes={
            "name": [None, name],
            "prefix": [None, api_key.public_prefix],
            "scopes": [None, scopes],
            "expires_at": [None, expires_at],
            "ip_allowlist": [None, ip_allowlist],
        },
    )
    return api_key, secret


def _creator_membership(api_key: ApiKey) -> Membership | None:
    """The membership of the key's creator in the key's org (any status), or None when they are no member."""
    if api_key.created_by_id is None:
        return None
    return Membership.objects.filter(organization_id=api_key.organization_id, user_id=api_key.created_by_id).first()


def _ensure_not_on_a_better(api_key: ApiKey, ensure_not_better: MemberCheck) -> None:
    creator = _creator_membership(api_key)
    if creator is not None:
        # A member's key is theirs: retiring it or taking its secret is acting on them.
        ensure_not_better(creator)


@transaction.atomic
def api_key_rotate(
    *,
    api_key: ApiKey,
    ensure_grantable: GrantCheck,
    ensure_not_better: MemberCheck,
    holder=None,
    actor: Actor,
) -> tuple[ApiKey, str]:
    """Give the key a new secret; the old one keeps working for API_KEY_ROTATION_GRACE_HOURS.

    The caller must hold every scope of the key and every permission of its creator. The key
    then acts for `holder` (the member the new secret is handed to): removed or suspended, the
    holder's secret dies with them, and it never acts beyond what they may do.
    Rotating again within the grace period ends the grace of the secret before.
    """
    api_key = ApiKey.objects.select_for_update(of=("self",)).select_related("created_by").get(id=api_key.id)
    if api_key.status != "active":
        raise conflict(f"Only an active key can be rotated; this one is {api_key.status}.")
    # The new secret is handed to the caller: a grant of every scope of the key (no escalation)...
    ensure_grantable(frozenset(api_key.scopes) & catalog.codes())
    # ...and a takeover of its creator's credential (not on a better).
    _ensure_not_on_a_better(api_key, ensure_not_better)
    prefix, secret = _new_secret()
    old_prefix, old_public_prefix = api_key.prefix, api_key.public_prefix
    grace_until = clock.now() + timedelta(hours=settings.API_KEY_ROTATION_GRACE_HOURS)
    api_key.previous_prefix = old_prefix
    api_key.previous_secret_hash = api_key.secret_hash
    api_key.previous_valid_until = grace_until
    api_key.prefix = prefix
    api_key.secret_hash = secret_hash(secret)
    changes = {"prefix": [old_public_prefix, api_key.public_prefix]}
    fields = ["prefix", "secret_hash", "previous_prefix", "previous_secret_hash", "previous_valid_until"]
    if holder is not None and api_key.created_by_id != holder.pk:
        # Whoever holds the secret is who the key acts for: a peer who rotated someone's key
        # must not keep a credential that outlives their own membership.
        changes["created_by"] = [str(api_key.created_by_id) if api_key.created_by_id else None, str(holder.pk)]
        api_key.created_by = holder
        fields.append("created_by")
    api_key.save(update_fields=fields)
    event_record(
        action="api_key.rotated",
        actor=actor,
        organization_id=api_key.organization_id,
        target=api_key,
        changes=changes,
        metadata={"previous_valid_until": grace_until},
    )
    return api_key, secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, ensure_not_better: MemberCheck, actor: Actor) -> ApiKey:
    """Revoke a key at once (its rotation grace too); the row stays for the record. Revoking twice is a no-op.

    The caller must hold every permission of the key's creator (while the creator is a member).
    """
    api_key = ApiKey.objects.select_for_update(of=("self",)).select_related("created_by").get(id=api_key.id)
    if api_key.revoked_at is not None:
        return api_key
    _ensure_not_on_a_better(api_key, ensure_not_better)
    api_key.revoked_at = clock.now()
    api_key.previous_valid_until = None
    api_key.save(update_fields=["revoked_at", "previous_valid_until"])
    event_record(
        action="api_key.revoked",
        actor=actor,
        organization_id=api_key.organization_id,
        target=api_key,
        changes={"revoked_at": [None, api_key.revoked_at]},
    )
    return api_key


@transaction.atomic
def api_key_delete(*, api_key: ApiKey, ensure_not_better: MemberCheck, actor: Actor) -> None:
    """Delete a key for good (active or revoked); like revoking, not a key of a better."""
    _ensure_not_on_a_better(api_key, ensure_not_better)
    event_record(
        action="api_key.deleted",
        actor=actor,
        organization_id=api_key.organization_id,
        target=api_key,
        changes={"name": [api_key.name, None], "prefix": [api_key.public_prefix, None]},
    )
    ApiKey.objects.filter(id=api_key.id).delete()
