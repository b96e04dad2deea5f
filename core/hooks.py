"""Hooks through which lower apps ask higher ones (STYLE: apps depend downward only).

Each hook is a typed object made from a function whose signature is the contract and whose body
is the answer when no higher app provides one (the answer that is true when that app is absent):

    @hook
    def default_organization(*, user) -> uuid.UUID | None:
        return None

A higher app provides it in its AppConfig.ready() (`hooks.default_organization.provide(func)`);
a provider whose parameters differ from the contract's, or a second provider of a one-answer
hook, fails at start-up. Callers call the hook like the function it was made from, so a
misspelled argument is a TypeError whether or not a provider is installed, and a misspelled hook
is an AttributeError at import. `@collector` hooks are answered by every provider, as a list.

Notifications sit below every app that notifies, so they are called directly, not through a hook.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, ParamSpec, TypeVar

from django.core.exceptions import ImproperlyConfigured

from core.roles import Role

P = ParamSpec("P")
R = TypeVar("R")


def _parameter_names(signature: inspect.Signature) -> set[str]:
    return {name for name, parameter in signature.parameters.items() if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)}


class _Extension(Generic[P, R]):
    def __init__(self, contract: Callable[P, R]):
        self.name = contract.__name__
        self.contract = contract
        self.__doc__ = contract.__doc__
        self._signature = inspect.signature(contract)
        self._parameters = _parameter_names(self._signature)

    def _checked(self, func: Callable[..., Any]) -> Callable[..., Any]:
        parameters = _parameter_names(inspect.signature(func))
        if parameters != self._parameters:
            raise ImproperlyConfigured(
                f"{func.__module__}.{func.__qualname__} cannot provide hook {self.name!r}: it takes "
                f"{sorted(parameters)}, the hook passes {sorted(self._parameters)}."
            )
        return func

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Hook(_Extension[P, R]):
    """A question with one answer: the provider's, else the contract's own body."""

    def __init__(self, contract: Callable[P, R]):
        super().__init__(contract)
        self.provider: Callable[P, R] | None = None

    def provide(self, func: Callable[P, R]) -> Callable[P, R]:
        """Install the answer (at start-up); providing the same function again is a no-op."""
        self._checked(func)
        if self.provider is not None and self.provider is not func:
            raise ImproperlyConfigured(f"hook {self.name!r} is already provided by {self.provider.__module__}.{self.provider.__qualname__}")
        self.provider = func
        return func

    @property
    def provided(self) -> bool:
        """Tell whether a higher app answers this hook."""
        return self.provider is not None

    @contextlib.contextmanager
    def overridden(self, func: Callable[..., R]) -> Iterator[None]:
        """Answer with `func` inside the block (tests)."""
        previous, self.provider = self.provider, self._checked(func)
        try:
            yield
        finally:
            self.provider = previous

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        # A provider takes exactly the contract's parameters, so either refuses a misspelled one.
        return (self.provider or self.contract)(*args, **kwargs)


class Collector(_Extension[P, R]):
    """A question every provider answers (contributions): the answers come back as a list."""

    def __init__(self, contract: Callable[P, R]):
        super().__init__(contract)
        self.providers: tuple[Callable[P, R], ...] = ()

    def provide(self, func: Callable[P, R]) -> Callable[P, R]:
        self._checked(func)
        if func not in self.providers:
            self.providers = (*self.providers, func)
        return func

    @property
    def provided(self) -> bool:
        return bool(self.providers)

    @contextlib.contextmanager
    def overridden(self, *funcs: Callable[..., R]) -> Iterator[None]:
        previous = self.providers
        self.providers = tuple(self._checked(func) for func in funcs)
        try:
            yield
        finally:
            self.providers = previous

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> list[R]:
        if not self.providers:
            self._signature.bind(*args, **kwargs)  # a misspelled argument fails without providers too
        return [func(*args, **kwargs) for func in self.providers]


def hook(contract: Callable[P, R]) -> Hook[P, R]:
    """Make a one-answer hook of `contract` (its body answers when no app provides one)."""
    return Hook(contract)


def collector(contract: Callable[P, R]) -> Collector[P, R]:
    """Make a hook every provider contributes to (`contract`'s body is never called)."""
    return Collector(contract)


# --- what accounts asks about organizations (organizations/hooks.py provides) ------------------


@hook
def organization_create(*, user, name: str, website: str, actor) -> Any:
    """Create an org owned by `user` at registration; None when organizations is absent."""
    return None


@hook
def default_organization(*, user) -> Any:
    """The id of the org a new session of `user` starts in, or None."""
    return None


@hook
def organization_summary(*, user, organization_id) -> dict | None:
    """{id, name, slug, role} when `user` is an active member of the org, else None."""
    return None


@hook
def token_claims(*, user, organization_id) -> dict:
    """The org claims of an access token: org_id, role, plan, features."""
    return {"org_id": None, "role": None, "plan": None, "features": {}}


@hook
def user_organizations(*, user) -> list[dict]:
    """[{id, name, slug, role}] of every org `user` is an active member of (login's org list)."""
    return []


@hook
def permission_claims(*, user, organization_id, mfa: bool, ip) -> list[str]:
    """The user's effective permissions in the org right now, sorted (an access token's display claim)."""
    return []


@hook
def user_deletion_blocker(*, user) -> str | None:
    """Why `user` may not delete their account yet, or None."""
    return None


@hook
def domain_sign_in(*, user, actor) -> None:
    """A user signed in: offer or grant memberships of orgs whose verified domain is theirs."""
    return None


@collector
def user_export(*, user) -> dict:
    """Sections of the GDPR export of `user` held by higher apps."""
    raise NotImplementedError


@collector
def user_deleted(*, user) -> None:
    """`user` is being deleted: remove what only they owned."""
    raise NotImplementedError


# --- what organizations asks higher apps (permissions, billing, messaging, ...) ---------------


@hook
def role_exists(*, organization, slug: str) -> bool:
    """Whether `slug` names a role of the org (custom roles live in permissions)."""
    return Role.is_builtin(slug)


@collector
def member_cleanup(*, organization, user) -> None:
    """A member left: drop their roles, chats, ... in that org."""
    raise NotImplementedError


@collector
def membership_changed(*, organization) -> None:
    """The org's member count changed (billing re-syncs per-seat plans after commit)."""
    raise NotImplementedError


@collector
def organization_stats(*, organization) -> dict:
    """Counters an app contributes to the org's stats ({name: n})."""
    raise NotImplementedError


@collector
def usage_counts(*, organization) -> dict:
    """Usage an app contributes for billing to sum ({"integrations": n} / {"storage_mb": n})."""
    raise NotImplementedError


@hook
def plan_claims(*, organization) -> dict:
    """The plan and feature flags of an org for its tokens (billing provides)."""
    return {"plan": None, "features": {}}


# --- what notifications asks (messaging provides) ---------------------------------------------


@collector
def notification_created(*, notification) -> None:
    """A notification was committed: push it to the user's open sockets."""
    raise NotImplementedError
