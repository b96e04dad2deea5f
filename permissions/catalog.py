"""The permission catalog the engine judges by: the apps' declared codes (core.authz) plus staff-registered platform codes.

Declared codes are static (each app's `permissions.py`). Platform codes (`PlatformPermission`
rows, registered by staff for product services outside this codebase) are read from the
database once and kept in process memory; a change drops this process's copy at once and
publishes a new version token in the shared cache, which other processes compare at most every
`_CHECK_SECONDS` (one cache read, never a query). Every process also re-reads after
`_MAX_AGE_SECONDS`, the bound on staleness should the token be evicted.

Who holds a platform code by default: the owner and admin roles (API.md: `owner` = everything,
`admin` = everything but org:delete, org:transfer and billing:manage); anyone else only through
a custom role, an allow policy or an API key scope, each granted by someone holding it.
"""

import re
import secrets
import threading
import time

from django.core.cache import cache
from django.db import DatabaseError, transaction

from core import authz
from core.authz import Permission
from core.roles import Role

# `resource:action`, lowercase, as the declared codes are written.
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}:[a-z][a-z0-9_]{0,47}$")
PLATFORM_HOLDERS = frozenset({Role.OWNER, Role.ADMIN})
_VERSION_KEY = "authz:platform-permissions:version"
_CHECK_SECONDS = 5.0
_MAX_AGE_SECONDS = 300.0


class _Memo:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries: dict[str, Permission] | None = None
        self.version: str | None = None
        self.loaded_at = 0.0
        self.checked_at = 0.0


_memo = _Memo()


def _load() -> dict[str, Permission] | None:
    from permissions.models import PlatformPermission

    try:
        rows = list(PlatformPermission.objects.order_by("code").values_list("code", "description"))
    except DatabaseError:
        # Before the table exists (migrating) the catalog is the declared one; nothing is remembered.
        return None
    declared = authz.codes()
    # A code an app has since declared for real is the app's: the declaration wins.
    return {code: Permission(code=code, description=description, roles=PLATFORM_HOLDERS) for code, description in rows if code not in declared}


def platform() -> dict[str, Permission]:
    """The registered platform permissions by code (declared codes excluded)."""
    now = time.monotonic()
    memo = _memo
    if memo.entries is not None and now - memo.checked_at < _CHECK_SECONDS and now - memo.loaded_at < _MAX_AGE_SECONDS:
        return memo.entries
    version = cache.get(_VERSION_KEY)
    with memo.lock:
        # A missing token (cache flushed or unreachable) says nothing changed: keep what we have.
        if memo.entries is not None and now - memo.loaded_at < _MAX_AGE_SECONDS and (version is None or version == memo.version):
            memo.checked_at = now
            return memo.entries
        entries = _load()
        if entries is None:
            return {}
        memo.entries, memo.version, memo.loaded_at, memo.checked_at = entries, version, now, now
        return entries


def version() -> str:
    """A token that changes whenever the platform catalog does (cache keys of decisions built on it include it)."""
    platform()
    return _memo.version or "0"


def changed() -> None:
    """Drop every process's copy: now in this one, and through a new version token for the others (again at commit)."""

    def publish():
        cache.set(_VERSION_KEY, secrets.token_hex(8), None)
        forget()

    publish()
    transaction.on_commit(publish)


def forget() -> None:
    """Drop this process's copy (tests call it after rolling back rows they registered)."""
    with _memo.lock:
        _memo.entries, _memo.version, _memo.loaded_at, _memo.checked_at = None, None, 0.0, 0.0


# --- the merged catalog (what core.authz answers for declared codes alone) ---------------------


def catalog() -> list[Permission]:
    """Every permission, declared and platform, sorted by code."""
    return sorted([*authz.catalog(), *platform().values()], key=lambda permission: permission.code)


def codes() -> frozenset[str]:
    """Every permission code, declared and platform."""
    extra = platform()
    return authz.codes() | frozenset(extra) if extra else authz.codes()


def is_declared(code: str) -> bool:
    """Tell whether `code` is a permission of the catalog (declared by an app or registered by staff)."""
    return authz.is_declared(code) or code in platform()


def is_builtin(code: str) -> bool:
    """Tell whether an app of this codebase declares `code` (such codes are read-only)."""
    return authz.is_declared(code)


def granted_to(role: str) -> frozenset[str]:
    """What a built-in role holds by default: its declared grants, plus every platform code for owner and admin."""
    granted = authz.granted_to(role)
    if role in PLATFORM_HOLDERS:
        extra = platform()
        if extra:
            granted |= frozenset(extra)
    return granted
