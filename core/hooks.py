"""Hooks through which lower apps ask higher ones (STYLE: apps depend downward only).

A higher app registers its implementation in its AppConfig.ready(); with none registered
each hook gives the answer that is true when that app is absent.
"""
from collections.abc import Callable
from typing import Any

_registry: dict[str, Callable[..., Any]] = {}


def register(name: str, func: Callable[..., Any]) -> None:
    """Install the implementation of a hook."""
    _registry[name] = func


def is_registered(name: str) -> bool:
    """Tell whether a higher app provides this hook."""
    return name in _registry


def call(name: str, default: Any, /, **kwargs: Any) -> Any:
    """Call the hook `name` with keyword arguments, or return `default` when none is registered."""
    func = _registry.get(name)
    if func is None:
        return default
    return func(**kwargs)


# Names of the hooks, so callers and providers never type them twice.
ORGANIZATION_CREATE = "organization_create"  # (user, name, website, company_size) -> organization
TOKEN_CLAIMS = "token_claims"  # (user, organization_id) -> {"org_id", "role", "plan", "features"}
DEFAULT_ORGANIZATION = "default_organization"  # (user) -> organization id or None
ORGANIZATION_SUMMARY = "organization_summary"  # (user, organization_id) -> dict or None
USER_DELETION_BLOCKER = "user_deletion_blocker"  # (user) -> reason str or None
USER_EXPORT = "user_export"  # (user) -> dict of extra sections
AUDIT_RECORD = "audit_record"  # (**event fields) -> event
