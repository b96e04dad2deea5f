"""Organization context: which org a request acts on, resolved once per request."""

import zlib
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

from core import hooks
from core.actor import Principal, principal_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from core.ids import parse_uuid
from core.memo import remembered
from core.roles import Role
from core.sql import CompiledInstance
from organizations.models import Membership, Organization

ORG_HEADER = "HTTP_X_ORG_ID"
# Seed 001's name for the same header (API.md v1.1): either may be sent; both, only when they agree.
ORG_HEADER_ALIAS = "HTTP_X_CURRENT_ORG"


@dataclass(frozen=True)
class OrgContext:
    """The organization of a request and how the caller belongs to it."""

    organization: Organization
    membership: Membership | None  # None when an API key acts
    api_key: object | None = None

    @property
    def user_id(self):
        return self.membership.user_id if self.membership else None


def _org_not_found() -> ApplicationError:
    return ApplicationError(code=ErrorCode.ORG_NOT_FOUND, message="Organization not found.", status_code=404)


def _invalid_context(message: str) -> ApplicationError:
    return ApplicationError(code=ErrorCode.INVALID_ORG_CONTEXT, message=message, status_code=403)


def _api_key_context(api_key, requested_id) -> OrgContext:
    # A key only ever acts on its own org; naming another one reveals nothing (404).
    if requested_id is not None and requested_id != api_key.organization_id:
        raise _org_not_found()
    return OrgContext(organization=api_key.organization, membership=None, api_key=api_key)


# Every org-scoped request needs the caller's membership and its org: kept in the shared cache
# (one round trip for both instead of a joined query), dropped whenever either row changes
# (organizations.signals) and after a minute at most, the bound on staleness if an invalidation
# is lost while the cache is unreachable.
CONTEXT_CACHE_SECONDS = 60
_MEMBERSHIP_FIELDS = [field.attname for field in Membership._meta.concrete_fields]
# In the keys: after a deploy that adds or drops a column, entries cached by the old code are
# never read as rows of the new shape.
_SHAPE = zlib.crc32(",".join(_MEMBERSHIP_FIELDS + [field.attname for field in Organization._meta.concrete_fields]).encode())


def _membership_key(organization_id, user_id) -> str:
    return f"orgctx:{_SHAPE:x}:membership:{organization_id}:{user_id}"


def _organization_key(organization_id) -> str:
    return f"orgctx:{_SHAPE:x}:organization:{organization_id}"


def context_forget(*, organization_id, user_id=None) -> None:
    """Drop the cached org (and one member's membership) now and again when the transaction commits.

    The second drop closes the window in which a concurrent request reads the old committed
    row and caches it again before this transaction commits.
    """
    keys = [_organization_key(organization_id)] if user_id is None else [_membership_key(organization_id, user_id)]
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def membership_of(user, organization_id) -> Membership | None:
    """The user's membership of the org (any status), with its organization; None when not a member.

    Read once per `core.memo.memo_scope` (a token's claims ask twice).
    """
    organization_id = parse_uuid(organization_id)
    if organization_id is None:
        return None
    return remembered(("membership_of", organization_id, user.pk), lambda: _membership_read(user, organization_id))


def _membership_read(user, organization_id) -> Membership | None:
    # Keys from the canonical UUID only: an invalidation (by the row's UUID) must find every copy.
    membership_key, organization_key = _membership_key(organization_id, user.pk), _organization_key(organization_id)
    found = cache.get_many([membership_key, organization_key])
    values, organization = found.get(membership_key), found.get(organization_key)
    if values is not None and organization is not None:
        membership = Membership.from_db("default", _MEMBERSHIP_FIELDS, values)
        membership.organization = organization
        return membership
    membership = _membership_with_organization(user.pk, organization_id)
    if membership is not None:
        # Plain values for the membership: the org is cached once, under its own key.
        values = [getattr(membership, name) for name in _MEMBERSHIP_FIELDS]
        cache.set_many({membership_key: values, organization_key: membership.organization}, CONTEXT_CACHE_SECONDS)
    return membership


# Read on every org-scoped request while the cache is away (and at each cache miss): compiled
# once (core.sql), as building it cost more CPU than running it (issue 17, issue 19's Redis-down
# throughput).
_MEMBERSHIP_WITH_ORGANIZATION = CompiledInstance(
    Membership,
    lambda marker: Membership.objects.filter(user_id=marker.user_id, organization_id=marker.organization_id),
    related="organization",
    fields=("user_id", "organization_id"),
)


def _membership_with_organization(user_id, organization_id) -> Membership | None:
    return _MEMBERSHIP_WITH_ORGANIZATION.get(Membership(user_id=user_id, organization_id=organization_id))


def resolve(request, *, path_org_id=None) -> OrgContext:
    """Resolve and cache the request's org: the path's org, else X-Org-ID, else the token's `org_id`.

    A path org the caller is not a member of is 404 (existence is never revealed); a
    header/token org is 404 ORG_NOT_FOUND when it does not exist and 403
    INVALID_ORG_CONTEXT when the caller is not an active member; a suspended member
    gets 403 INVALID_ORG_CONTEXT everywhere; a member without MFA in an org that
    requires it gets 403 MFA_REQUIRED.
    """
    cached = getattr(request, "_org_context", None)
    if cached is not None:
        return cached
    principal = principal_of(request)
    if path_org_id is not None:
        requested = parse_uuid(path_org_id)
        if requested is None:
            raise _org_not_found()
        context = org_context(principal=principal, organization_id=requested)
    else:
        context = org_context(principal=principal, organization_id=_requested_org(request, principal), reveal_existence=True)
    request._org_context = context
    return context


def _header_org(request, meta_key: str, name: str):
    """The UUID in one org header (None when absent); 400 when it is not a UUID."""
    header = request.META.get(meta_key)
    if not header:
        return None
    organization_id = parse_uuid(header)
    if organization_id is None:
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message=f"{name} must be a UUID.",
            details={name: ["Must be a valid UUID."]},
        )
    return organization_id


def _requested_org(request, principal: Principal):
    """The org named by X-Org-ID (or its alias X-Current-Org), else by the token (a key names its own): None when neither does."""
    primary = _header_org(request, ORG_HEADER, "X-Org-ID")
    alias = _header_org(request, ORG_HEADER_ALIAS, "X-Current-Org")
    if primary is not None and alias is not None and primary != alias:
        message = "X-Org-ID and X-Current-Org name different organizations: send one of them."
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message=message,
            details={"X-Org-ID": [message], "X-Current-Org": [message]},
        )
    header = primary or alias
    if header is not None:
        return header
    return parse_uuid(principal.organization_id)


def org_context(*, principal: Principal, organization_id, reveal_existence: bool = False) -> OrgContext:
    """The one way into an org, for every path (HTTP, the WebSocket, OAuth callbacks): principal + org id.

    An API key reaches only its own org (404 for any other); a user goes through
    `member_context`; anyone else has no org. No org named → 403 INVALID_ORG_CONTEXT.
    """
    if principal.is_api_key:
        return _api_key_context(principal.api_key, organization_id)
    if organization_id is None:
        raise _invalid_context("No organization selected: send X-Org-ID or switch organization.")
    if not principal.is_user:
        raise _org_not_found()
    return member_context(
        user=principal.user,
        organization_id=organization_id,
        mfa=principal.mfa,
        reveal_existence=reveal_existence,
        sso=principal.sso,
        impersonating=principal.impersonator_id is not None,
    )


def mfa_requirement_check(*, organization: Organization, mfa: bool) -> None:
    """Refuse (403 MFA_REQUIRED) a member session that did not pass MFA in an org with `require_mfa`.

    For member sessions only (REST through `resolve`, and the WebSocket): an API key is not a
    session and has no second factor to present (its scopes, IP allow-list and policies bound
    it). An impersonation session never passed the target's MFA, so it is refused too. Enrolling
    MFA (auth/mfa/...) is not org-scoped, so a member can always get there. The org row read here
    may be the cached one, which every settings change drops (organizations.signals).
    """
    if (organization.settings or {}).get("require_mfa") and not mfa:
        raise ApplicationError(
            code=ErrorCode.MFA_REQUIRED,
            message="This organization requires two-factor authentication: enable MFA and sign in with it.",
            status_code=403,
        )


@hooks.hook
def sso_enforced(*, organization: Organization, user) -> bool:
    """Whether one of the org's SSO connections enforces sign-in through its IdP for this user now (the `sso` app answers)."""
    return False


def sso_requirement_check(*, organization: Organization, membership: Membership, user, sso: bool, impersonating: bool = False) -> None:
    """Refuse (403 SSO_REQUIRED) a session not opened through SSO in an org enforcing SSO for the member's address.

    Per org and per request, like `require_mfa`: the global sign-in gate (accounts.sessions) stops
    other sign-ins of accounts the IdP may sign in, but an account can also reach the org with a
    session opened for another org (switch, X-Org-ID), or be one the IdP may not vouch for (a
    member of another org too). The owner (break-glass) and staff impersonating (their own MFA)
    are let through. Free for everyone else: the org row is the cached one, and only an address
    at an enforced domain asks the `sso` app for the authoritative answer (plan, verified domain).
    """
    domains = organization.sso_enforced_domains
    if not domains or sso or impersonating or membership.role == Role.OWNER:
        return
    from organizations.domains import email_domain

    if email_domain(getattr(user, "email", "")) in domains and sso_enforced(organization=organization, user=user):
        from accounts.sessions import sso_required_error

        raise sso_required_error()


def member_context(*, user, organization_id, mfa: bool, reveal_existence: bool = False, sso: bool = False, impersonating: bool = False) -> OrgContext:
    """The one resolver of a member's org context: HTTP, the WebSocket and OAuth callbacks all call it.

    The user's membership of the org (cached, organizations.signals drop it): none → 404
    ORG_NOT_FOUND, or with `reveal_existence` (an org the caller chose by header or token, not
    by path) 403 INVALID_ORG_CONTEXT when the org exists; suspended → 403 INVALID_ORG_CONTEXT;
    `require_mfa` without `mfa` → 403 MFA_REQUIRED.
    """
    membership = membership_of(user, organization_id)
    if membership is None:
        if reveal_existence and Organization.objects.filter(id=parse_uuid(organization_id)).exists():
            raise _invalid_context("You are not a member of this organization.")
        raise _org_not_found()
    if membership.status != Membership.Status.ACTIVE:
        raise _invalid_context("Your membership of this organization is suspended.")
    mfa_requirement_check(organization=membership.organization, mfa=mfa)
    sso_requirement_check(organization=membership.organization, membership=membership, user=user, sso=sso, impersonating=impersonating)
    return OrgContext(organization=membership.organization, membership=membership)
