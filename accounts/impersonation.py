"""What an impersonation token may do (API.md v1.1 invariant 5): read-and-act, never persist.

An allow-list, in this one place: a safe method (GET/HEAD/OPTIONS) is allowed unless its route
mints or stores a credential (`_SIDE_EFFECT_READS`); an unsafe method is allowed only on the
routes named in `_IMPERSONABLE`. Everything else — credentials, linked identities, MFA, e-mail,
sessions, API keys, integration credentials, invitation codes, invite accept/decline, org creation,
account deletion, and any route added later until someone lists it here — answers 403
INSUFFICIENT_PERMISSIONS to an impersonation token. The JWT authentication class
(`accounts.authentication`) applies it to every REST request; the only other place an access
token authenticates, the messaging WebSocket, carries messaging actions alone, which are
impersonable here too (`messaging:*`).
"""

from rest_framework.exceptions import PermissionDenied

from core.errors import ErrorCode

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALL_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Reads with a side effect that outlives the impersonation.
_SIDE_EFFECT_READS = frozenset(
    {
        "auth:link-google",  # mints a single-use link token: Google linked to the target, signed into later
        "integrations:oauth-start",  # begins storing third-party credentials in the org
        "integrations:oauth-callback",
    }
)

# Unsafe methods an impersonation token may use, by URL name (namespace included).
_IMPERSONABLE: dict[str, frozenset[str]] = {
    "staff:impersonate-stop": _ALL_UNSAFE,
    # Re-issues this session's own (refresh-less, still impersonation-bound) token for another org.
    "auth:switch-org": _ALL_UNSAFE,
    # Profile fields only (name, avatar, phone); DELETE (the account) is not listed.
    "users:me": frozenset({"PATCH", "PUT"}),
    # Renaming the org is acting; deleting it, or handing it to someone else
    # (orgs:transfer-ownership, not listed), outlives the impersonation.
    "orgs:detail": frozenset({"PATCH", "PUT"}),
    # Organization resources: acting as the member, audited with the impersonator.
    **dict.fromkeys(
        [
            "orgs:settings",
            "orgs:member-detail",
            "orgs:leave",
            "orgs:profile",
            "orgs:invite-detail",  # cancel only; creating/resending returns an invitation code (a credential)
            "orgs:teams",
            "orgs:team-detail",
            "orgs:team-members",
            "orgs:team-member-detail",
            "orgs:domains",
            "orgs:domain-detail",
            "orgs:domain-verify",
            "orgs:permission-check",
            "orgs:permission-check-many",
            "orgs:roles",
            "orgs:role-detail",
            "orgs:role-permissions",
            "orgs:role-assignments",
            "orgs:role-assignment-detail",
            "orgs:policies",
            "orgs:policy-detail",
            "orgs:documents",
            "orgs:document-detail",
            "billing:subscription-change-plan",
            "billing:subscription-cancel",
            "billing:subscription-reactivate",
            "billing:checkout",
            "billing:portal",
            "billing:usage-check-limit",
            "billing:payment-refund",
            "billing:payment-methods",
            "billing:payment-method-detail",
            "billing:payment-method-default",
            "ai:chat",
            "ai:chat-stream",
            "ai:conversation-detail",
            "notifications:read-all",
            "notifications:preferences",
            "notifications:detail",
            "notifications:read",
            "messaging:chats",
            "messaging:chat-detail",
            "messaging:chat-members",
            "messaging:chat-member-detail",
            "messaging:chat-leave",
            "messaging:chat-read",
            "messaging:chat-messages",
            "messaging:chat-message-detail",
            "messaging:call-start",
            "messaging:call-join",
            "messaging:call-leave",
            "messaging:call-end",
            "messaging:call-reject",
            "messaging:call-media",
        ],
        _ALL_UNSAFE,
    ),
}

REFUSED_MESSAGE = "Not allowed while impersonating."


class ImpersonationRefused(PermissionDenied):
    """403 INSUFFICIENT_PERMISSIONS for a route an impersonation token may not use."""

    default_detail = REFUSED_MESSAGE
    default_code = str(ErrorCode.INSUFFICIENT_PERMISSIONS)


def impersonation_allows(*, view_name: str | None, method: str) -> bool:
    """Tell whether an impersonation token may call `method` on the route named `view_name`."""
    method = (method or "").upper()
    if method in SAFE_METHODS:
        return view_name not in _SIDE_EFFECT_READS
    # Unknown route (no URL name): refused, as everything not listed is.
    return method in _IMPERSONABLE.get(view_name or "", frozenset())


def impersonation_request_check(request) -> None:
    """Raise 403 when an impersonation token calls a route it may not use."""
    django_request = getattr(request, "_request", request)
    match = getattr(django_request, "resolver_match", None)
    if not impersonation_allows(view_name=getattr(match, "view_name", None), method=request.method):
        raise ImpersonationRefused()
