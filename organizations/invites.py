"""Invitations: issue, refresh, resend, cancel (org side); look up, accept, decline (by code, public).

The code is a secret shown once (create/resend response and the email): only its SHA-256 is
stored, so a database leak does not hand out working invitations.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from accounts.models import User
from accounts.tokens import TokenPair, hash_secret, random_secret
from audit.services import event_record
from core import clock, entitlements
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from core.tasks import enqueue
from notifications import services as notification_services
from organizations import tasks
from organizations.models import Invite, Membership, Organization, Team, TeamMembership
from organizations.services import default_role, email_domain_allowed, email_domain_require, membership_add, role_validate

STATUS_FILTERS = ("pending", "expired", "accepted", "declined", "cancelled")
_UNUSABLE = {
    "expired": "This invitation has expired.",
    Invite.Status.ACCEPTED: "This invitation has already been accepted.",
    Invite.Status.DECLINED: "This invitation was declined.",
    Invite.Status.CANCELLED: "This invitation was cancelled.",
}


@dataclass(frozen=True)
class IssuedInvite:
    """An invite with its freshly generated code (the only moment the code exists in clear)."""

    invite: Invite
    code: str
    created: bool

    @property
    def invite_url(self) -> str:
        return invite_url(self.code)


@dataclass(frozen=True)
class AcceptResult:
    invite: Invite
    membership: Membership
    user: User
    tokens: TokenPair | None  # set when the invite created the account (anonymous accept)


def invite_url(code: str) -> str:
    """The front-end link that opens an invitation."""
    return f"{settings.FRONTEND_URL}/join/{code}"


def _expiry():
    return clock.now() + timedelta(days=settings.INVITE_EXPIRY_DAYS)


def _new_code() -> tuple[str, str]:
    code = random_secret()  # 256 random bits: unguessable, so a plain SHA-256 is enough to store
    return code, hash_secret(code)


def _email_normalize(email: str) -> str:
    return User.objects.normalize_email(email)


def _email_queue(invite: Invite, code: str) -> None:
    enqueue(tasks.send_invite_email, str(invite.id), code)


# --- reads ------------------------------------------------------------------------------------


def invite_list(*, organization: Organization, status: str | None = None) -> QuerySet[Invite]:
    """Invitations of an org, newest first; `status` may be any effective status (incl. expired)."""
    qs = Invite.objects.for_organization(organization).select_related("invited_by").prefetch_related("teams")
    now = clock.now()
    if status == "pending":
        qs = qs.filter(status=Invite.Status.PENDING, expires_at__gt=now)
    elif status == "expired":
        qs = qs.filter(status=Invite.Status.PENDING, expires_at__lte=now)
    elif status:
        if status not in STATUS_FILTERS:
            raise validation_error("status", f"Use one of: {', '.join(STATUS_FILTERS)}.")
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "id")


def invite_get(*, organization: Organization, invite_id) -> Invite:
    """One invitation of the org (404 otherwise, also for another org's)."""
    invite = invite_list(organization=organization).filter(id=invite_id).first()
    if invite is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="Invitation not found.", status_code=404)
    return invite


def invite_get_by_code(*, code: str, lock: bool = False) -> Invite:
    """The invitation a code opens (404 for an unknown code)."""
    qs = Invite.objects.select_related("organization")
    if lock:
        # Only the invite row: concurrent accepts of one code serialize here, nothing else waits.
        qs = qs.select_for_update(of=("self",))
    invite = qs.filter(code_hash=hash_secret(code or "")).first()
    if invite is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="Invitation not found.", status_code=404)
    return invite


def _require_usable(invite: Invite) -> None:
    status = invite.effective_status
    if status != Invite.Status.PENDING:
        message = _UNUSABLE[status]
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"code": [message]})


# --- organization side --------------------------------------------------------------------------


def _teams_resolve(*, organization: Organization, team_ids) -> list[Team]:
    wanted = set(team_ids or [])
    if not wanted:
        return []
    # Filtering on the org is the tenant check: another org's team id is simply "unknown".
    teams = list(Team.objects.filter(organization=organization, id__in=wanted))
    if len(teams) != len(wanted):
        raise validation_error("team_ids", "Every team must be a team of this organization.")
    return teams


def members_used(organization: Organization) -> int:
    """Seats the member limit counts: active members plus pending invitations."""
    active = Membership.objects.for_organization(organization).active().count()
    return active + Invite.objects.for_organization(organization).pending().count()


def _member_exists(organization: Organization, email: str) -> bool:
    return Membership.objects.filter(organization=organization, user__email__iexact=email).exists()


def _notify_existing_user(*, invite: Invite, actor: Actor) -> None:
    user = User.objects.filter(email__iexact=invite.email, is_active=True).first()
    if user is None:
        return
    notification_services.notify(
        event="invitation_received",
        user=user,
        organization=invite.organization,
        # No code here: it exists only in the email, so a stored notification cannot accept the invite.
        context={
            "invite_id": str(invite.id),
            "organization_name": invite.organization.name,
            "role": invite.role,
            "invited_by": actor.user.email if actor.user is not None else None,
        },
    )


def _issue(*, organization: Organization, email: str, role: str, teams: list[Team], actor: Actor, source: str) -> IssuedInvite:
    """Create the pending invite for `email`, or refresh the one that exists (new code, expiry, role, teams)."""
    code, code_hash = _new_code()
    existing = Invite.objects.select_for_update().filter(organization=organization, email__iexact=email, status=Invite.Status.PENDING).first()
    if existing is None or existing.expires_at <= clock.now():
        # A new or lapsed invitation takes a seat again (a live pending one already holds one).
        entitlements.require(organization, "max_members", used=members_used(organization))
    if existing is None:
        try:
            with transaction.atomic():
                invite = Invite.objects.create(
                    organization=organization,
                    email=email,
                    role=role,
                    code_hash=code_hash,
                    # A person; an API key leaves it empty (audit names the key).
                    invited_by=actor.user,
                    created_at=clock.now(),
                    expires_at=_expiry(),
                )
        except IntegrityError:
            # A concurrent request created the pending invite first: refresh that one instead.
            existing = Invite.objects.select_for_update().get(organization=organization, email__iexact=email, status=Invite.Status.PENDING)
    if existing is not None:
        invite, created = existing, False
        changes = {"role": [invite.role, role]} if invite.role != role else {}
        invite.role, invite.code_hash, invite.expires_at = role, code_hash, _expiry()
        invite.invited_by = actor.user or invite.invited_by
        invite.save(update_fields=["role", "code_hash", "expires_at", "invited_by"])
    else:
        created = True
        changes = {"email": [None, email], "role": [None, role]}
    invite.teams.set(teams)
    event_record(
        action="member.invited",
        actor=actor,
        organization_id=organization.id,
        target=invite,
        changes=changes,
        metadata={"email": email, "refreshed": not created, "source": source, "team_ids": [str(t.id) for t in teams]},
    )
    _notify_existing_user(invite=invite, actor=actor)
    _email_queue(invite, code)
    return IssuedInvite(invite=invite, code=code, created=created)


@transaction.atomic
def invite_create(*, organization: Organization, email: str, role: str, team_ids=None, actor: Actor) -> IssuedInvite:
    """Invite an email (re-inviting a pending one refreshes it); 409 for an existing member."""
    email = _email_normalize(email)
    email_domain_require(organization=organization, email=email)
    role_validate(organization=organization, role=role)
    teams = _teams_resolve(organization=organization, team_ids=team_ids)
    if _member_exists(organization, email):
        raise conflict("This person is already a member of the organization.", email=["Already a member."])
    return _issue(organization=organization, email=email, role=role, teams=teams, actor=actor, source="invite")


def _lock(invite: Invite) -> Invite:
    return Invite.objects.select_for_update(of=("self",)).select_related("organization").get(id=invite.id)


@transaction.atomic
def invite_resend(*, invite: Invite, actor: Actor) -> IssuedInvite:
    """Issue a new code and expiry for a pending (or expired) invitation and email it again."""
    invite = _lock(invite)
    if invite.status != Invite.Status.PENDING:
        raise conflict(f"Only a pending invitation can be resent; this one is {invite.status}.")
    if _member_exists(invite.organization, invite.email):
        raise conflict("This person is already a member of the organization.")
    email_domain_require(organization=invite.organization, email=invite.email)
    if invite.expires_at <= clock.now():
        entitlements.require(invite.organization, "max_members", used=members_used(invite.organization))
    code, invite.code_hash = _new_code()
    old_expiry, invite.expires_at = invite.expires_at, _expiry()
    invite.save(update_fields=["code_hash", "expires_at"])
    event_record(
        action="invite.resent",
        actor=actor,
        organization_id=invite.organization_id,
        target=invite,
        changes={"expires_at": [old_expiry, invite.expires_at]},
    )
    _email_queue(invite, code)
    return IssuedInvite(invite=invite, code=code, created=False)


@transaction.atomic
def invite_cancel(*, invite: Invite, actor: Actor) -> None:
    """Cancel a pending invitation (cancelling a cancelled one is a no-op; a used one is 409)."""
    invite = _lock(invite)
    if invite.status == Invite.Status.CANCELLED:
        return
    if invite.status != Invite.Status.PENDING:
        raise conflict(f"This invitation was already {invite.status}.")
    invite.status = Invite.Status.CANCELLED
    invite.save(update_fields=["status"])
    event_record(
        action="invite.cancelled",
        actor=actor,
        organization_id=invite.organization_id,
        target=invite,
        changes={"status": [Invite.Status.PENDING, Invite.Status.CANCELLED]},
    )


# --- invitee side (public, by code) ---------------------------------------------------------------


def _respond(*, invite: Invite, status: str) -> None:
    now = clock.now()
    # Conditional update: whatever the isolation level, only one response can win.
    won = Invite.objects.filter(id=invite.id, status=Invite.Status.PENDING, expires_at__gt=now).update(status=status, responded_at=now)
    if won != 1:
        message = "This invitation can no longer be used."
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, details={"code": [message]})
    invite.status, invite.responded_at = status, now


def _join_teams(*, invite: Invite, user, actor: Actor) -> None:
    teams = list(invite.teams.all())
    TeamMembership.objects.bulk_create([TeamMembership(team=team, user=user, added_at=clock.now()) for team in teams], ignore_conflicts=True)
    for team in teams:
        event_record(
            action="team.member_added",
            actor=actor,
            organization_id=invite.organization_id,
            target=team,
            changes={"user_id": [None, str(user.id)]},
            metadata={"source": "invite"},
        )


def _invitee(
    *,
    invite: Invite,
    user,
    full_name: str | None,
    password: str | None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> tuple[User, bool]:
    """The account that accepts: the signed-in user (same, verified email) or a new one."""
    if user is not None and user.is_authenticated:
        if user.email.lower() != invite.email.lower():
            raise ApplicationError(
                code=ErrorCode.INSUFFICIENT_PERMISSIONS,
                message="This invitation was sent to another email address.",
                status_code=403,
            )
        if not user.email_verified:
            # A matching but unverified address proves nothing about who controls that inbox.
            raise ApplicationError(
                code=ErrorCode.INSUFFICIENT_PERMISSIONS,
                message="Verify your email address, then accept the invitation.",
                status_code=403,
            )
        return user, False
    if User.objects.filter(email__iexact=invite.email).exists():
        raise conflict(
            "An account with this email already exists: sign in, then accept the invitation.",
            email=["An account with this email already exists."],
        )
    has_name = any((value or "").strip() for value in (full_name, first_name, last_name))
    missing = {f: ["This field is required."] for f, v in (("full_name", has_name), ("password", password)) if not v}
    if missing:
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message="Sign in, or give `full_name` and `password` to create your account.",
            details=missing,
        )
    from accounts.services import email_verification_send, user_create

    # Unverified (invariant 3): the inviter also holds this code, so using it proves nothing about
    # who reads that inbox. The address is proven the usual way, by a token mailed only to it.
    account = user_create(email=invite.email, password=password, full_name=full_name, first_name=first_name, last_name=last_name)
    email_verification_send(user=account)
    return account, True


@transaction.atomic
def invite_accept(
    *,
    code: str,
    full_name: str | None = None,
    password: str | None = None,
    actor: Actor,
    first_name: str | None = None,
    last_name: str | None = None,
) -> AcceptResult:
    """Accept an invitation: join the org (and its teams) as the invited role, once.

    An anonymous caller gives `full_name` and `password` and gets an account (email not
    verified: a verification email is sent) and tokens; a signed-in caller must own the
    invited, verified address.
    """
    invite = invite_get_by_code(code=code, lock=True)
    _require_usable(invite)
    account, user_created = _invitee(invite=invite, user=actor.user, full_name=full_name, password=password, first_name=first_name, last_name=last_name)
    organization = invite.organization
    role = invite.role
    try:
        role_validate(organization=organization, role=role)
    except ApplicationError:
        # A custom role deleted after the invitation was sent.
        raise validation_error("code", "The role of this invitation no longer exists; ask for a new invitation.") from None
    _respond(invite=invite, status=Invite.Status.ACCEPTED)
    # The invitee joins: the account acts (the one just created, for an anonymous caller).
    actor = actor.as_user(account)
    membership = membership_add(organization=organization, user=account, role=role, actor=actor, source="invite")
    _join_teams(invite=invite, user=account, actor=actor)
    event_record(
        action="invite.accepted",
        actor=actor,
        organization_id=organization.id,
        target=invite,
        changes={"status": [Invite.Status.PENDING, Invite.Status.ACCEPTED]},
        metadata={"email": invite.email, "role": membership.role, "account_created": user_created},
    )
    tokens = None
    if user_created:
        from accounts.sessions import login_complete, sso_required

        # An org enforcing SSO for the address signs the newcomer in through its IdP, not here.
        if not sso_required(user=account):
            tokens = login_complete(user=account, actor=actor, organization_id=organization.id, mfa_verified=False, auth_method="invite")
    return AcceptResult(invite=invite, membership=membership, user=account, tokens=tokens)


@transaction.atomic
def invite_decline(*, code: str, actor: Actor) -> None:
    """Decline an invitation (anyone holding the code may)."""
    invite = invite_get_by_code(code=code, lock=True)
    _require_usable(invite)
    _respond(invite=invite, status=Invite.Status.DECLINED)
    event_record(
        action="invite.declined",
        actor=actor,
        organization_id=invite.organization_id,
        target=invite,
        changes={"status": [Invite.Status.PENDING, Invite.Status.DECLINED]},
        metadata={"email": invite.email},
    )


def invite_offer(*, organization: Organization, user, actor: Actor) -> IssuedInvite | None:
    """Offer membership (as the org's `default_role`) to a user of a verified domain: a pending invite, emailed.

    Nothing when a live one is pending, or the user declined / an admin cancelled one before
    (an offer refused once is not pushed at every sign-in), or the plan has no room; an
    expired one is refreshed as it was.
    """
    email = _email_normalize(user.email)
    if not email_domain_allowed(organization=organization, email=email):
        return None
    previous = Invite.objects.filter(organization=organization, email__iexact=email)
    if previous.filter(status__in=[Invite.Status.DECLINED, Invite.Status.CANCELLED]).exists():
        return None
    pending = previous.filter(status=Invite.Status.PENDING).prefetch_related("teams").first()
    if pending is not None and pending.expires_at > clock.now():
        return None
    if not entitlements.check(organization, "max_members", used=members_used(organization)).allowed:
        return None
    if pending is not None:
        # An admin's invitation lapsed: send that same one again (its role and teams), not a lesser one.
        role, teams = pending.role, list(pending.teams.all())
    else:
        role, teams = default_role(organization=organization), []
    return _issue(organization=organization, email=email, role=role, teams=teams, actor=actor, source="domain")
