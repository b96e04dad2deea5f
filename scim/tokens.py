"""SCIM bearer tokens: issue (shown once), rotate, revoke, and authenticate a request's token.

A token reads `scim_<prefix>_<random>`; the prefix finds the row, only an HMAC of the whole
token is stored (like API keys: 256 random bits need no slow hash, the key makes a leaked
table useless on its own).
"""

import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.crypto import get_random_string, salted_hmac

from audit.services import event_record
from core import clock
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, not_found
from organizations.models import Membership, Organization
from organizations.services import MemberCheck
from scim.models import ScimToken

TOKEN_START = "scim_"
PREFIX_LENGTH = 12
_PREFIX_CHARS = string.ascii_letters + string.digits
_RANDOM_BYTES = 32
_TOKEN_RE = re.compile(rf"^{TOKEN_START}([A-Za-z0-9]{{{PREFIX_LENGTH}}})_[A-Za-z0-9_-]{{32,128}}$")
MAX_TOKEN_LENGTH = len(TOKEN_START) + PREFIX_LENGTH + 1 + 128
_HASH_SALT = "scim.tokens.secret"
MAX_ACTIVE_TOKENS = 5
TOUCH_SECONDS = 60


@dataclass(frozen=True)
class IssuedToken:
    """A token row and its secret, which exists only in this response."""

    token: ScimToken
    secret: str


def secret_hash(secret: str, *, signing_key: str | None = None) -> str:
    """HMAC-SHA256 of the whole token under a key derived from SECRET_KEY (hex, 64 chars)."""
    return salted_hmac(_HASH_SALT, secret, secret=signing_key, algorithm="sha256").hexdigest()


def _hash_matches(secret: str, stored: str) -> bool:
    # SECRET_KEY_FALLBACKS keep tokens working while Django's own secret is being rotated.
    for signing_key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        # compare_digest: the time taken must not tell how much of the hash matched.
        if hmac.compare_digest(secret_hash(secret, signing_key=signing_key), stored):
            return True
    return False


def _new_secret() -> tuple[str, str]:
    for _ in range(5):
        prefix = get_random_string(PREFIX_LENGTH, _PREFIX_CHARS)
        if not ScimToken.objects.filter(prefix=prefix).exists():
            return prefix, f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(_RANDOM_BYTES)}"
    raise RuntimeError("could not draw an unused SCIM token prefix")  # 62**12 prefixes: never in practice


# --- authentication ---------------------------------------------------------------------------


def token_authenticate(*, secret: str, organization_id) -> ScimToken | None:
    """The active token of `organization_id` this secret is, or None (unknown, revoked, another org's)."""
    # Length first: never run the regex (or a hash) over a megabyte of header.
    match = _TOKEN_RE.match(secret) if len(secret) <= MAX_TOKEN_LENGTH else None
    if match is None:
        return None
    token = ScimToken.objects.select_related("organization", "created_by").filter(prefix=match.group(1)).first()
    if token is None:
        _hash_matches(secret, "0" * 64)  # an unknown prefix costs what a wrong secret costs
        return None
    if not _hash_matches(secret, token.secret_hash) or token.revoked_at is not None:
        return None
    # Another org's token on this org's path: the same answer as no token (tells nothing).
    if str(token.organization_id) != str(organization_id):
        return None
    return token


def token_touch(*, token: ScimToken, ip: str | None) -> None:
    """Record the token's last use, at most once a minute."""
    now = clock.now()
    if token.last_used_at is not None and now - token.last_used_at < timedelta(seconds=TOUCH_SECONDS):
        return
    ScimToken.objects.filter(id=token.id).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip


# --- reads ------------------------------------------------------------------------------------


def token_list(*, organization: Organization):
    """The org's tokens (active and revoked), newest first, with their creators."""
    return ScimToken.objects.filter(organization=organization).select_related("created_by").order_by("-created_at", "id")


def token_get(*, organization: Organization, token_id) -> ScimToken:
    """One token of the org (404 otherwise, also for another org's)."""
    token = token_list(organization=organization).filter(id=token_id).first()
    if token is None:
        raise not_found("SCIM token not found.")
    return token


def token_creator_membership(*, token: ScimToken) -> Membership | None:
    """The creator's active membership of the token's org, or None (left, suspended or deleted)."""
    if token.created_by_id is None:
        return None
    return Membership.objects.filter(organization_id=token.organization_id, user_id=token.created_by_id, status=Membership.Status.ACTIVE).first()


# --- writes -----------------------------------------------------------------------------------


def _require_person(actor: Actor) -> None:
    # The token acts with its creator's permissions: an API key (bounded by its scopes) or an
    # impersonator (invariant 5: no credentials) would hand out more than they hold.
    if actor.user is None or actor.impersonator_id is not None:
        raise ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message="SCIM tokens are managed by a signed-in member in person.", status_code=403)


@transaction.atomic
def token_create(*, organization: Organization, name: str = "", actor: Actor) -> IssuedToken:
    """Issue a token acting for the caller; its secret is returned here only (409 past the per-org limit)."""
    _require_person(actor)
    # Lock the org row: two concurrent creates cannot both take the last slot.
    Organization.objects.select_for_update().only("id").get(id=organization.id)
    if ScimToken.objects.filter(organization=organization).active().count() >= MAX_ACTIVE_TOKENS:
        raise conflict(f"An organization has at most {MAX_ACTIVE_TOKENS} active SCIM tokens: revoke one first.")
    prefix, secret = _new_secret()
    token = ScimToken.objects.create(
        organization=organization,
        name=(name or "").strip(),
        prefix=prefix,
        secret_hash=secret_hash(secret),
        created_by=actor.user,
        created_at=clock.now(),
    )
    event_record(
        action="scim.token_created",
        actor=actor,
        organization_id=organization.id,
        target=token,
        changes={"name": [None, token.name], "prefix": [None, token.public_prefix]},
    )
    return IssuedToken(token=token, secret=secret)


def _ensure_not_on_creator(token: ScimToken, ensure_not_better: MemberCheck) -> None:
    creator = token_creator_membership(token=token)
    if creator is not None:
        # Rotating or revoking someone's token acts on them (API.md v1.1 invariant 2).
        ensure_not_better(creator)


@transaction.atomic
def token_rotate(*, token: ScimToken, actor: Actor, ensure_not_better: MemberCheck) -> IssuedToken:
    """Replace the token's secret (the old one stops at once); it then acts for the caller, who alone sees the new secret."""
    _require_person(actor)
    token = ScimToken.objects.select_for_update(of=("self",)).select_related("created_by").get(id=token.id)
    if token.revoked_at is not None:
        raise conflict("This SCIM token is revoked; create a new one.")
    _ensure_not_on_creator(token, ensure_not_better)
    old_prefix = token.public_prefix
    token.prefix, secret = _new_secret()
    token.secret_hash = secret_hash(secret)
    token.rotated_at = clock.now()
    old_holder = token.created_by_id
    token.created_by = actor.user
    token.save(update_fields=["prefix", "secret_hash", "rotated_at", "created_by"])
    event_record(
        action="scim.token_rotated",
        actor=actor,
        organization_id=token.organization_id,
        target=token,
        changes={"prefix": [old_prefix, token.public_prefix], "created_by": [str(old_holder) if old_holder else None, str(actor.user.pk)]},
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def token_revoke(*, token: ScimToken, actor: Actor, ensure_not_better: MemberCheck) -> ScimToken:
    """Revoke a token for good (idempotent); the row stays for the record."""
    _require_person(actor)
    token = ScimToken.objects.select_for_update(of=("self",)).select_related("created_by").get(id=token.id)
    if token.revoked_at is not None:
        return token
    _ensure_not_on_creator(token, ensure_not_better)
    token.revoked_at = clock.now()
    token.save(update_fields=["revoked_at"])
    event_record(
        action="scim.token_revoked",
        actor=actor,
        organization_id=token.organization_id,
        target=token,
        changes={"status": ["active", "revoked"]},
    )
    return token
