"""Who is acting, and from where: the typed identity services take instead of `request`.

Authentication attaches one `Principal` to every REST request (`request.auth`): a user signed in
with a bearer token, an organization API key, or nobody (`SERVICE` is kept for internal services). `actor_of(request)`
wraps it with where the call came from (client IP, user agent, request id) into an `Actor`, the
one argument a service takes to know who is changing what; audit reads everything it records
from it. Outside a request (tasks, management commands, the admin's own forms), `Actor.system()`
or `Actor.for_user(user)` say who acts.

JWT claims are read here and nowhere else (`Principal.from_claims`), and "is this an API key?" is
asked one way: `principal.is_api_key`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from core.http import client_ip, user_agent
from core.middleware import current_request_id


class PrincipalKind(enum.StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SERVICE = "service"
    SCIM = "scim"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True, eq=False)
class Principal:
    """The authenticated identity of a call.

    `user` is the person for a user (None for a key, a service, the system or nobody); `api_key`
    the key row for a key. `session_id`, `organization_id` (the org the token was issued for),
    `mfa` and `impersonator_id` come from a bearer token's claims.
    """

    kind: PrincipalKind
    user: Any = None
    api_key: Any = None
    service: str = ""
    session_id: str | None = None
    organization_id: str | None = None
    mfa: bool = False
    impersonator_id: str | None = None
    # Signed in through an org's IdP (the access token's `amr` names "sso").
    sso: bool = False
    # The organization's SCIM token for a SCIM provisioning call (scim app), else None.
    scim_token: Any = None

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_claims(cls, user, claims: Mapping[str, Any]) -> Principal:
        """A signed-in user's principal from a verified access token's claims (the one reader)."""
        act = claims.get("act")
        impersonator = act.get("sub") if isinstance(act, Mapping) else None
        sid, org_id = claims.get("sid"), claims.get("org_id")
        return cls(
            kind=PrincipalKind.USER,
            user=user,
            session_id=str(sid) if sid else None,
            organization_id=str(org_id) if org_id else None,
            mfa=bool(claims.get("mfa")),
            impersonator_id=str(impersonator) if impersonator else None,
            sso="sso" in (claims.get("amr") or ()),
        )

    @classmethod
    def for_user(cls, user, *, mfa: bool = False, sso: bool = False) -> Principal:
        """A user known without a token (a Django admin session, a task acting for them, a signed flow state)."""
        return cls(kind=PrincipalKind.USER, user=user, mfa=mfa, sso=sso)

    @classmethod
    def for_api_key(cls, api_key) -> Principal:
        return cls(kind=PrincipalKind.API_KEY, api_key=api_key, organization_id=str(api_key.organization_id))

    @classmethod
    def for_scim(cls, scim_token) -> Principal:
        """An identity provider provisioning an organization through its SCIM token."""
        return cls(kind=PrincipalKind.SCIM, scim_token=scim_token, organization_id=str(scim_token.organization_id))

    @classmethod
    def system(cls) -> Principal:
        return _SYSTEM

    # -- questions ----------------------------------------------------------------------------

    @property
    def is_api_key(self) -> bool:
        return self.kind is PrincipalKind.API_KEY

    @property
    def is_user(self) -> bool:
        return self.kind is PrincipalKind.USER

    @property
    def is_impersonation(self) -> bool:
        return self.impersonator_id is not None

    @property
    def acting_for(self):
        """The member this principal acts for: the user, or the creator of the key (None otherwise)."""
        if self.is_api_key:
            # A key acts for its creator: it can never outlive or outrank them.
            return self.api_key.created_by
        return self.user

    @property
    def pk(self):
        """The id audit records for this principal: the user's, the key's or the SCIM token's (None otherwise)."""
        if self.is_api_key:
            return self.api_key.pk
        if self.kind is PrincipalKind.SCIM:
            return self.scim_token.pk
        return self.user.pk if self.user is not None else None

    @property
    def email(self) -> str:
        return (getattr(self.user, "email", "") or "") if self.is_user else ""

    def __repr__(self) -> str:  # never the session id
        who = self.pk or self.service or ""
        return f"Principal({self.kind}, {who})"


_SYSTEM = Principal(kind=PrincipalKind.SYSTEM)
_ANONYMOUS = Principal(kind=PrincipalKind.ANONYMOUS)


@dataclass(frozen=True, slots=True, eq=False)
class Actor:
    """A principal and where its call came from: what every state-changing service takes."""

    principal: Principal
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def system(cls) -> Actor:
        """The platform itself (tasks, webhooks, retention): no person, no origin."""
        return cls(principal=_SYSTEM, request_id=current_request_id() or "")

    @classmethod
    def for_user(cls, user, *, mfa: bool = False) -> Actor:
        """A user acting outside an HTTP request (management commands, tasks, tests)."""
        return cls(principal=Principal.for_user(user, mfa=mfa), request_id=current_request_id() or "")

    def as_user(self, user) -> Actor:
        """The same call, acted by `user` (a sign-in, a self-service join): origin and impersonator kept."""
        principal = Principal(
            kind=PrincipalKind.USER,
            user=user,
            session_id=self.principal.session_id,
            mfa=self.principal.mfa if self.principal.user == user else False,
            impersonator_id=self.principal.impersonator_id,
        )
        return replace(self, principal=principal)

    def as_system(self) -> Actor:
        """The same call, acted by the platform (an automatic consequence of it): origin kept."""
        return replace(self, principal=_SYSTEM)

    @property
    def user(self):
        """The signed-in person, or None when a key, a service or the system acts (`created_by` fields)."""
        return self.principal.user if self.principal.is_user else None

    @property
    def acting_for(self):
        return self.principal.acting_for

    @property
    def is_api_key(self) -> bool:
        return self.principal.is_api_key

    @property
    def api_key(self):
        return self.principal.api_key

    @property
    def impersonator_id(self) -> str | None:
        return self.principal.impersonator_id


def principal_of(request) -> Principal:
    """The principal of a request: what authentication attached, else the session's user, else nobody."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, Principal):
        return auth
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # A Django session (the admin): django-otp's middleware says whether it passed a device.
        is_verified = getattr(user, "is_verified", None)
        return Principal.for_user(user, mfa=bool(is_verified()) if callable(is_verified) else False)
    return _ANONYMOUS


def actor_of(request) -> Actor:
    """The actor of a request: its principal, the client's IP, user agent and request id."""
    return Actor(
        principal=principal_of(request),
        ip=client_ip(request),
        user_agent=user_agent(request),
        request_id=current_request_id() or "",
    )
