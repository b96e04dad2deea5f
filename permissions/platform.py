"""Platform permissions: codes staff register for product services, granted in every org like the declared ones.

Only staff signed in as themselves with MFA manage them (accounts.staff.staff_power_check, also
asked here so every path is held to it). Declared codes are read-only (403); a code still named
by a custom role, a policy or an API key cannot be deleted (409). Events go to the org-less
audit chain.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from accounts.staff import staff_power_check
from audit.services import event_record
from core.actor import Actor
from core.exceptions import conflict, forbidden, not_found, validation_error
from permissions import catalog
from permissions.models import ApiKey, PlatformPermission, Policy, Role

_ACTION = "manage platform permissions"


@dataclass(frozen=True)
class CatalogEntry:
    """One permission of the platform-wide catalog as staff see it."""

    code: str
    description: str
    is_builtin: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def resource(self) -> str:
        return self.code.split(":", 1)[0]

    @property
    def action(self) -> str:
        return self.code.split(":", 1)[1]


def _entry(row: PlatformPermission) -> CatalogEntry:
    return CatalogEntry(code=row.code, description=row.description, is_builtin=False, created_at=row.created_at, updated_at=row.updated_at)


# --- reads --------------------------------------------------------------------------------------


def platform_permission_list() -> list[CatalogEntry]:
    """Every permission: the apps' declared codes (read-only) and the registered platform codes, by code."""
    declared = [CatalogEntry(code=p.code, description=p.description, is_builtin=True) for p in catalog.catalog() if catalog.is_builtin(p.code)]
    registered = [_entry(row) for row in PlatformPermission.objects.order_by("code") if not catalog.is_builtin(row.code)]
    return sorted(declared + registered, key=lambda entry: entry.code)


def _row(code: str, *, lock: bool = False) -> PlatformPermission:
    if catalog.is_builtin(code):
        raise forbidden(f"'{code}' is declared by the platform's own apps: it is read-only.")
    rows = PlatformPermission.objects.select_for_update() if lock else PlatformPermission.objects
    row = rows.filter(code=code).first()
    if row is None:
        raise not_found("Permission not found.")
    return row


def platform_permission_get(*, code: str) -> CatalogEntry:
    """One permission by code, declared or registered (404 otherwise)."""
    if catalog.is_builtin(code):
        return next(CatalogEntry(code=p.code, description=p.description, is_builtin=True) for p in catalog.catalog() if p.code == code)
    return _entry(_row(code))


def _naming(model, field: str, code: str, **filters) -> bool:
    # JSON containment is not portable (SQLite): the list's JSON text holds `"code"` when it names
    # it, checked exactly on the few candidate rows.
    candidates = model.objects.filter(**filters).annotate(_text=Cast(field, TextField())).filter(_text__contains=f'"{code}"')
    return any(code in (values or []) for values in candidates.values_list(field, flat=True))


def platform_permission_usage(*, code: str) -> list[str]:
    """What still names a code, in any org: custom roles, policies, API keys not revoked."""
    usage = []
    if _naming(Role, "permissions", code, is_builtin=False):
        usage.append("roles")
    if _naming(Policy, "permissions", code):
        usage.append("policies")
    if _naming(ApiKey, "scopes", code, revoked_at__isnull=True):
        usage.append("api_keys")
    return usage


# --- writes -------------------------------------------------------------------------------------


def _code_clean(code: str) -> str:
    code = (code or "").strip()
    if not catalog.CODE_RE.match(code):
        raise validation_error("code", "Use `resource:action`: lowercase letters, digits and underscores, each starting with a letter (e.g. crm:write).")
    return code


def _description_clean(description: str) -> str:
    description = (description or "").strip()
    if not description:
        raise validation_error("description", "This field may not be blank.")
    return description


@transaction.atomic
def platform_permission_create(*, actor: Actor, code: str, description: str) -> PlatformPermission:
    """Register a permission code for every org's catalog (409 when it exists, declared or registered)."""
    staff_power_check(principal=actor.principal, action=_ACTION)
    code = _code_clean(code)
    description = _description_clean(description)
    if catalog.is_builtin(code) or PlatformPermission.objects.filter(code=code).exists():
        raise conflict("This permission already exists.", code=["This permission already exists."])
    try:
        with transaction.atomic():
            row = PlatformPermission.objects.create(code=code, description=description, created_by=actor.user)
    except IntegrityError:
        raise conflict("This permission already exists.", code=["This permission already exists."]) from None
    event_record(
        action="platform_permission.created",
        actor=actor,
        target=row,
        changes={"code": [None, code], "description": [None, description]},
    )
    catalog.changed()
    return row


@transaction.atomic
def platform_permission_update(*, actor: Actor, code: str, description: str) -> PlatformPermission:
    """Change a registered permission's description (its code never changes: grants refer to it)."""
    staff_power_check(principal=actor.principal, action=_ACTION)
    row = _row(code, lock=True)
    description = _description_clean(description)
    if description != row.description:
        old = row.description
        row.description = description
        row.save(update_fields=["description", "updated_at"])
        event_record(action="platform_permission.updated", actor=actor, target=row, changes={"description": [old, description]})
        catalog.changed()
    return row


@transaction.atomic
def platform_permission_delete(*, actor: Actor, code: str) -> None:
    """Unregister a permission nobody names any more (409 while a custom role, policy or API key does)."""
    staff_power_check(principal=actor.principal, action=_ACTION)
    row = _row(code, lock=True)
    usage = platform_permission_usage(code=code)
    if usage:
        raise conflict(f"This permission is in use ({', '.join(usage)}): remove it from them first.", in_use=usage)
    event_record(
        action="platform_permission.deleted",
        actor=actor,
        target=row,
        changes={"code": [row.code, None], "description": [row.description, None]},
    )
    row.delete()
    catalog.changed()
