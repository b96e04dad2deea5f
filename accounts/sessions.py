"""Sign-in sessions: open one for a sign-in, rotate its refresh token, switch its org, revoke it.

Below both `services` and `mfa`, which each open and revoke sessions.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import session_state_forget
from accounts.models import OneTimeToken, User, UserSession
from accounts.tokens import TokenPair, auth_method_base, hash_secret, issue_pair, new_jti, random_secret
from audit.services import event_record
from core import clock, hooks
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from core.ids import parse_uuid
from core.sql import CompiledInstance

logger = logging.getLogger(__name__)

SSO = "sso"
SSO_REQUIRED = "Your organization requires single sign-on for this address: sign in with SSO (POST /api/v1/auth/sso/start)."


@hooks.hook
def sso_required(*, user) -> bool:
    """Whether an org's enforced SSO connection must sign this account in, so nothing else may (the `sso` app answers)."""
    return False


@hooks.hook
def sso_enforced_in(*, user, organization_id) -> bool:
    """Whether the org enforces SSO for this account, so only a session through its IdP may open there (the `sso` app answers)."""
    return False


def sso_required_error() -> ApplicationError:
    return ApplicationError(code=ErrorCode.SSO_REQUIRED, message=SSO_REQUIRED, status_code=403)


def _sso_gate(*, user: User, auth_method: str, organization_id=None) -> None:
    """Every way in but the org's IdP stops here when SSO is enforced for the account (password, Google, passkey, invite...).

    With `organization_id`: also when that org enforces SSO for the account, even if the account
    may sign in elsewhere (it belongs to other orgs too): the session would open in that org.
    """
    # "sso+passkey": the IdP, then a passkey as the second factor — still a sign-in through the IdP.
    if auth_method_base(auth_method) == SSO:
        return
    if sso_required(user=user) or (organization_id is not None and sso_enforced_in(user=user, organization_id=organization_id)):
        raise sso_required_error()


def session_create(
    *,
    user: User,
    actor: Actor,
    mfa_verified: bool = False,
    organization_id=None,
    auth_method: str = "password",
) -> TokenPair:
    """Open a server-side session for a sign-in and return its first token pair."""
    if organization_id is None:
        organization_id = hooks.default_organization(user=user)
    now = clock.now()
    session = UserSession.objects.create(
        user=user,
        created_at=now,
        last_used_at=now,
        expires_at=now + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"],
        ip=actor.ip,
        user_agent=actor.user_agent,
        refresh_jti=new_jti(),
        mfa_verified=mfa_verified,
        organization_id=organization_id,
        auth_method=auth_method,
    )
    return issue_pair(user=user, session=session)


def session_revoke(*, session: UserSession, reason: str, actor: Actor) -> None:
    """Revoke one session: its refresh token and every access token it issued stop working now."""
    updated = UserSession.objects.filter(id=session.id, revoked_at__isnull=True).update(revoked_at=clock.now(), revoked_reason=reason)
    # Now, so this process refuses the tokens at once; again after commit, in case another
    # request cached the session as active while this transaction was still open.
    session_state_forget(session.id)
    transaction.on_commit(lambda: session_state_forget(session.id))
    if updated:
        event_record(
            action="session.revoked",
            actor=actor,
            organization_id=session.organization_id,
            target=session,
            metadata={"reason": reason, "user_id": str(session.user_id)},
        )


def sessions_revoke_all(*, user: User, reason: str, actor: Actor, except_session_id=None) -> int:
    """Revoke every live session of a user (but one, when given); return how many."""
    sessions = list(UserSession.objects.filter(user=user, revoked_at__isnull=True).exclude(id=except_session_id))
    for session in sessions:
        session_revoke(session=session, reason=reason, actor=actor)
    # A sign-in halfway through (password passed, MFA code pending) would open a session later:
    # its challenge goes too. (Selection tokens check the password stamp themselves.)
    OneTimeToken.objects.filter(user=user, purpose=OneTimeToken.Purpose.MFA_CHALLENGE, used_at__isnull=True).update(expires_at=clock.now())
    return len(sessions)


# Every refresh reads its session with the user: the ORM built and compiled that join (about
# thirty columns) for 0.4-0.5 ms of CPU per refresh, more than running it (issue 17).
_SESSION_WITH_USER = CompiledInstance(UserSession, lambda marker: UserSession.objects.filter(pk=marker.pk), related="user")


def _session_with_user(session_id) -> UserSession | None:
    """The session named by a refresh token's `sid`, its user loaded with it (None: no such session)."""
    session_id = parse_uuid(session_id)
    return _SESSION_WITH_USER.get(UserSession(pk=session_id)) if session_id is not None else None


def token_refresh(*, refresh_token: str, actor: Actor) -> TokenPair:
    """Rotate a refresh token; a rotated-out token presented again revokes its whole session."""
    try:
        token = RefreshToken(refresh_token)
    except ExpiredTokenError:
        raise ApplicationError(code=ErrorCode.TOKEN_EXPIRED, message="Refresh token has expired.", status_code=401) from None
    except TokenError:
        raise ApplicationError(code=ErrorCode.TOKEN_INVALID, message="Refresh token is invalid.", status_code=401) from None
    # Not the impersonator: impersonation sessions get no refresh token, so it is almost always
    # absent, and joining a second user row would cost every refresh.
    session = _session_with_user(token.get("sid"))
    if session is None or not session.is_active or not session.user.is_active:
        raise ApplicationError(code=ErrorCode.TOKEN_INVALID, message="Session has been revoked.", status_code=401)
    old_jti = token.get("jti")
    jti = new_jti()
    now = clock.now()
    # Compare-and-swap on the current jti: of two concurrent uses of one token, exactly one wins.
    rotated = UserSession.objects.filter(id=session.id, refresh_jti=old_jti, revoked_at__isnull=True).update(
        refresh_jti=jti,
        last_used_at=now,
        ip=actor.ip or session.ip,
    )
    if rotated != 1:
        logger.warning("refresh token reuse detected; revoking session %s", session.id)
        session_revoke(session=session, reason="refresh_reuse", actor=actor)
        raise ApplicationError(
            code=ErrorCode.TOKEN_INVALID,
            message="Refresh token was already used; the session has been revoked.",
            status_code=401,
        )
    session.refresh_jti = jti
    session.last_used_at = now
    return issue_pair(user=session.user, session=session)


def session_switch_organization(*, session: UserSession, organization_id) -> TokenPair:
    """Point a session at another active organization and re-issue its tokens (rotation).

    Not into an org that enforces SSO for the account, unless the session came through SSO.
    """
    if session.impersonator_id is None:
        _sso_gate(user=session.user, auth_method=session.auth_method, organization_id=organization_id)
    session.organization_id = organization_id
    session.refresh_jti = new_jti()
    session.last_used_at = clock.now()
    session.save(update_fields=["organization_id", "refresh_jti", "last_used_at"])
    return issue_pair(user=session.user, session=session, with_refresh=session.impersonator_id is None)


def login_complete(
    *,
    user: User,
    actor: Actor,
    organization_id=None,
    mfa_verified: bool,
    auth_method: str = "password",
    offer_domains: bool = True,
    org_selected: bool = False,
) -> TokenPair:
    """Open the session of a successful sign-in and record it (acted by `user`, from the actor's origin).

    `offer_domains=False`: this sign-in already made its domain offers (org selection);
    `org_selected`: the org was picked at `auth/select-org` (recorded in the audit event).
    """
    _sso_gate(user=user, auth_method=auth_method, organization_id=organization_id)
    actor = actor.as_user(user)
    if offer_domains:
        # Verified-domain memberships are offered (or granted) before the session picks its org.
        hooks.domain_sign_in(user=user, actor=actor)
    if organization_id is not None:
        organization_id = organization_for_login(user=user, organization_id=organization_id)
    pair = session_create(
        user=user,
        actor=actor,
        mfa_verified=mfa_verified,
        organization_id=organization_id,
        auth_method=auth_method,
    )
    User.objects.filter(id=user.id).update(last_login=clock.now())
    event_record(
        action="user.logged_in",
        actor=actor,
        organization_id=pair.session.organization_id,
        target=pair.session,
        metadata={"method": auth_method, "mfa": mfa_verified, **({"org_selected": True} if org_selected else {})},
    )
    return pair


def organization_for_login(*, user: User, organization_id):
    """Accept a requested active org only when the organizations app confirms membership."""
    summary = hooks.organization_summary(user=user, organization_id=organization_id)
    if summary is None:
        raise ApplicationError(
            code=ErrorCode.INVALID_ORG_CONTEXT,
            message="You are not an active member of this organization.",
            status_code=403,
        )
    return organization_id


# --- organization selection (login with `org_selection: true`) -------------------------------

ORG_SELECTION_SECONDS = 300


@dataclass(frozen=True)
class OrgSelection:
    """A sign-in that passed every factor and waits for the user to pick one of their orgs."""

    selection_token: str
    organizations: list[dict]

    def as_response(self) -> dict:
        return {"status": "org_selection_required", "selection_token": self.selection_token, "organizations": self.organizations}


def _selection_key(selection_token: str) -> str:
    # Only the hash names the entry: the cache never holds a usable token.
    return f"auth:org-selection:{hash_secret(selection_token or '')}"


def _selection_invalid() -> ApplicationError:
    return ApplicationError(code=ErrorCode.TOKEN_INVALID, message="The selection token is invalid, used or expired.", status_code=401)


def org_selection_issue(*, user: User, mfa_verified: bool, auth_method: str) -> str:
    """Create the single-use, 5-minute `selection_token`, bound to the user and the sign-in's facts."""
    secret = random_secret()
    expires_at = clock.now() + timedelta(seconds=ORG_SELECTION_SECONDS)
    facts = {
        "user_id": str(user.id),
        "mfa_verified": bool(mfa_verified),
        "auth_method": auth_method,
        "expires_at": expires_at.isoformat(),
        # A password change in the meantime (which revokes every session) voids the token too.
        "password_stamp": user.get_session_auth_hash(),
    }
    cache.set(_selection_key(secret), facts, ORG_SELECTION_SECONDS)
    return secret


def login_finish(
    *,
    user: User,
    actor: Actor,
    organization_id=None,
    mfa_verified: bool,
    auth_method: str = "password",
    org_selection: bool = False,
) -> TokenPair | OrgSelection:
    """Finish a sign-in whose factors all passed: its session, or an org selection.

    The selection comes only when the client asked for it (`org_selection`), named no org, and the
    user is an active member of two or more orgs; otherwise the session opens as usual.
    """
    if not org_selection or organization_id is not None:
        return login_complete(user=user, actor=actor, organization_id=organization_id, mfa_verified=mfa_verified, auth_method=auth_method)
    # login_complete gates the sign-ins above; a selection is gated here, before anything is offered or issued.
    _sso_gate(user=user, auth_method=auth_method)
    # Domain offers first, so an org the user has just auto-joined is among the choices.
    hooks.domain_sign_in(user=user, actor=actor.as_user(user))
    organizations = hooks.user_organizations(user=user)
    if len(organizations) < 2:
        return login_complete(user=user, actor=actor, mfa_verified=mfa_verified, auth_method=auth_method, offer_domains=False)
    token = org_selection_issue(user=user, mfa_verified=mfa_verified, auth_method=auth_method)
    return OrgSelection(selection_token=token, organizations=organizations)


def org_selection_complete(*, selection_token: str, organization_id, actor: Actor) -> TokenPair:
    """Spend a selection token on one of the user's active orgs: the session opens there.

    401 TOKEN_INVALID for an unknown, used or expired token; 403 INVALID_ORG_CONTEXT for an org the
    user is not (or no longer) an active member of, which leaves the token usable for another pick.
    """
    key = _selection_key(selection_token)
    facts = cache.get(key)
    if not isinstance(facts, dict) or datetime.fromisoformat(facts["expires_at"]) <= clock.now():
        raise _selection_invalid()
    user = User.objects.filter(id=facts["user_id"], is_active=True).first()
    if user is None or not constant_time_compare(facts.get("password_stamp", ""), user.get_session_auth_hash()):
        raise _selection_invalid()
    organization_id = organization_for_login(user=user, organization_id=organization_id)
    # The delete is the spend: of two concurrent uses only one removes the entry. A cache that
    # cannot answer (down) refuses the token rather than letting it be replayed.
    if not cache.delete(key):
        raise _selection_invalid()
    return login_complete(
        user=user,
        actor=actor,
        organization_id=organization_id,
        mfa_verified=facts["mfa_verified"],
        auth_method=facts["auth_method"],
        offer_domains=False,
        org_selected=True,
    )
