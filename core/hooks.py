"""Hooks through which lower apps ask higher ones (STYLE: apps depend downward only).

A higher app registers its implementation in its AppConfig.ready(); with none registered
each hook gives the answer that is true when that app is absent.
"""
from collections.abc import Callable
from typing import Any

_registry: dict[str, list[Callable[..., Any]]] = {}


def register(name: str, func: Callable[..., Any]) -> None:
    """Install an implementation of a hook (registering the same function twice is a no-op)."""
    providers = _registry.setdefault(name, [])
    if func not in providers:
        providers.append(func)


def is_registered(name: str) -> bool:
    """Tell whether a higher app provides this hook."""
    return bool(_registry.get(name))


def call(name: str, default: Any, /, **kwargs: Any) -> Any:
    """Call the (last registered) provider of `name`, or return `default` when there is none."""
    providers = _registry.get(name)
    if not providers:
        return default
    return providers[-1](**kwargs)


def collect(name: str, /, **kwargs: Any) -> list[Any]:
    """Call every provider of `name` and return their answers (for hooks several apps contribute to)."""
    return [func(**kwargs) for func in _registry.get(name, [])]


# Names of the hooks, so callers and providers never type them twice.
ORGANIZATION_CREATE = "organization_create"  # (user, name, website, company_size) -> organization
TOKEN_CLAIMS = "token_claims"  # (user, organization_id) -> {"org_id", "role", "plan", "features"}
DEFAULT_ORGANIZATION = "default_organization"  # (user) -> organization id or None
ORGANIZATION_SUMMARY = "organization_summary"  # (user, organization_id) -> dict or None
USER_DELETION_BLOCKER = "user_deletion_blocker"  # (user) -> reason str or None
USER_EXPORT = "user_export"  # (user) -> dict of extra sections
ROLE_EXISTS = "role_exists"  # (organization, slug) -> bool; the permissions app knows custom roles
MEMBER_CLEANUP = "member_cleanup"  # (organization, user) -> None, every provider: drop a leaving member's roles, chats, ...
NOTIFY = "notify"  # (event, user, organization, context) -> None; the notifications app delivers
DOMAIN_SIGN_IN = "domain_sign_in"  # (user, request) -> None; verified-domain membership offers/joins
PLAN_CLAIMS = "plan_claims"  # (organization) -> {"plan": code, "features": {flag: bool}}; billing fills it
USER_DELETED = "user_deleted"  # (user) -> None; every app removes what only that user owned
ORGANIZATION_STATS = "organization_stats"  # (organization) -> {counter: n}; several apps contribute
USAGE_COUNTS = "usage_counts"  # (organization) -> {"integrations": n} / {"storage_mb": n}; billing sums them
MEMBERSHIP_CHANGED = "membership_changed"  # (organization) -> None; billing re-syncs seats after commit
NOTIFICATION_CREATED = "notification_created"  # (notification) -> None; after commit; messaging pushes notification:new
