"""Organization writes: orgs, memberships and ownership. Every change is audited in its transaction."""

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.text import slugify

from accounts.models import UserSession
from audit.services import event_record
from core import clock, entitlements, hooks
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from core.roles import Role
from core.services import model_update
from notifications import services as notification_services
from organizations.context import context_forget
from organizations.models import Membership, Organization, TeamMembership

# Checks the API layer gives the writes below (permissions.drf; this app sits under permissions):
# raise when the caller may not give a role slug (no escalation) or act on a member (not on a better).
RoleCheck = Callable[[str], None]
MemberCheck = Callable[[Membership], None]
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$")
# E.164: "+", a country code not starting with 0, at most 15 digits in all.
_E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_PUNCTUATION_RE = re.compile(r"[\s().-]")
RESERVED_SLUGS = frozenset({"api", "admin", "www", "app", "new", "settings", "billing", "static", "media"})
SETTINGS_SCHEMA = {
    "timezone": str,
    "locale": str,
    "logo_url": str,
    "primary_color": str,
    "require_mfa": bool,
    "default_role": str,
    "allowed_email_domains": list,
    "notifications": dict,
    "company_name": str,
    "email_from_name": str,
}
# Branding of the org's e-mails and pages: setting any of them needs the plan feature `white_label`.
WHITE_LABEL_KEYS = ("company_name", "logo_url", "primary_color", "email_from_name")
WHITE_LABEL_FEATURE = "white_label"
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
# No control characters: these values end up in e-mail headers (From) and HTML.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_WHITE_LABEL_MAX_LENGTHS = {"company_name": 100, "email_from_name": 60, "logo_url": 200}


def authz_revision_bump(*, organization: Organization) -> int:
    """Invalidate every cached authorization decision of the org (role/assignment/membership/policy change)."""
    Organization.objects.filter(id=organization.id).update(authz_revision=F("authz_revision") + 1)
    # An update() sends no signal: the cached org context (organizations.context) must not keep the old revision.
    context_forget(organization_id=organization.id)
    organization.refresh_from_db(fields=["authz_revision"])
    return organization.authz_revision


# --- organizations ----------------------------------------------------------------------------


def _slug_validate(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise validation_error("slug", "Use 3-60 lowercase letters, digits and hyphens (not a reserved word).")
    return slug


def _slug_generate(name: str) -> str:
    base = (slugify(name)[:50].strip("-") or "org").lower()
    if len(base) < 3 or base in RESERVED_SLUGS:
        base = f"{base}-org".strip("-")
    candidate, n = base, 1
    while Organization.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def phone_normalize(phone: str) -> str:
    """Return `phone` in E.164 form ("+15551234567"; spaces, dots, dashes and brackets dropped); "" stays ""."""
    if not phone:
        return ""
    normalized = _PHONE_PUNCTUATION_RE.sub("", phone)
    if not _E164_RE.match(normalized):
        raise validation_error("phone", "Use an international number: + then country code and number (E.164), e.g. +14155550123.")
    return normalized


@transaction.atomic
def organization_create(
    *,
    user,
    name: str,
    slug: str | None = None,
    website: str = "",
    company_size: str = "",
    email: str = "",
    phone: str = "",
    actor: Actor,
) -> Organization:
    """Create an org with `user` as its owner; the slug is generated when absent (409 when taken)."""
    name = name.strip()
    if not name:
        raise validation_error("name", "This field may not be blank.")
    phone = phone_normalize(phone)
    slug = _slug_validate(slug) if slug else _slug_generate(name)
    if Organization.objects.filter(slug=slug).exists():
        raise conflict("This slug is already taken.", slug=["This slug is already taken."])
    try:
        with transaction.atomic():
            organization = Organization.objects.create(
                name=name, slug=slug, website=website or "", company_size=company_size or "", email=email or "", phone=phone
            )
    except IntegrityError:
        raise conflict("This slug is already taken.", slug=["This slug is already taken."]) from None
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    event_record(
        action="org.created",
        actor=actor,
        organization_id=organization.id,
        target=organization,
        changes={"name": [None, name], "slug": [None, slug]},
    )
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, actor: Actor, data: dict) -> Organization:
    """Change name, slug (plan feature `custom_slug`), website, e-mail or phone."""
    if "phone" in data:
        data = {**data, "phone": phone_normalize(data["phone"])}
    if "slug" in data and data["slug"] != organization.slug:
        data = {**data, "slug": _slug_validate(data["slug"])}
        entitlements.require_feature(organization, "custom_slug")
        if Organization.objects.filter(slug=data["slug"]).exclude(id=organization.id).exists():
            raise conflict("This slug is already taken.", slug=["This slug is already taken."])
    organization, changes = model_update(instance=organization, fields=["name", "slug", "website", "email", "phone"], data=data)
    if changes:
        event_record(action="org.updated", actor=actor, organization_id=organization.id, target=organization, changes=changes)
    return organization


def settings_validate(settings: dict) -> dict:
    """Accept only known keys with the right types."""
    errors = {}
    for key, value in settings.items():
        expected = SETTINGS_SCHEMA.get(key)
        if expected is None:
            errors[key] = ["Unknown setting."]
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            errors[key] = [f"Must be of type {expected.__name__}."]
        elif expected is str and len(value) > 200:
            errors[key] = ["Ensure this value has at most 200 characters."]
        elif key in WHITE_LABEL_KEYS and (problem := white_label_value_problem(key, value)):
            errors[key] = [problem]
    if errors:
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message="Invalid settings.", details=errors)
    return settings


def white_label_value_problem(key: str, value: str) -> str | None:
    """Why `value` is not a valid white-label `key` (https logo, #rrggbb colour, bounded plain text), or None."""
    limit = _WHITE_LABEL_MAX_LENGTHS.get(key)
    if limit is not None and len(value) > limit:
        return f"Ensure this value has at most {limit} characters."
    if _CONTROL_RE.search(value):
        return "Control characters (line breaks, tabs) are not allowed."
    if key == "primary_color" and not _COLOR_RE.match(value):
        return "Use a #rrggbb hex colour, e.g. #1a2b3c."
    if key == "logo_url":
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            host = None
        if host is None or parts.scheme != "https" or " " in value:
            return "Use an https:// URL."
    if key in ("company_name", "email_from_name") and not value.strip():
        return "This field may not be blank."
    return None


@transaction.atomic
def organization_settings_update(*, organization: Organization, actor: Actor, settings: dict) -> dict:
    """Merge validated keys into the org's settings (a null value removes a key; setting white-label keys needs `white_label`)."""
    removals = {k for k, v in settings.items() if v is None}
    settings_validate({k: v for k, v in settings.items() if v is not None})
    if any(settings.get(key) is not None for key in WHITE_LABEL_KEYS):
        # Removing branding (null) stays possible on any plan: a downgraded org can clean up.
        entitlements.require_feature(organization, WHITE_LABEL_FEATURE)
    settings = admission_settings_clean(organization=organization, settings=settings)
    organization = Organization.objects.select_for_update().get(id=organization.id)
    old = dict(organization.settings)
    new = {**old, **{k: v for k, v in settings.items() if v is not None}}
    for key in removals:
        new.pop(key, None)
    if new != old:
        organization.settings = new
        organization.save(update_fields=["settings", "updated_at"])
        changes = {k: [old.get(k), new.get(k)] for k in set(old) | set(new) if old.get(k) != new.get(k)}
        event_record(action="org.settings_updated", actor=actor, organization_id=organization.id, target=organization, changes=changes)
    return new


@transaction.atomic
def organization_delete(*, organization: Organization, actor: Actor, confirm: str) -> None:
    """Delete an org (owner only; `confirm` must equal its slug)."""
    if confirm != organization.slug:
        raise validation_error("confirm", "Type the organization's slug to confirm.")
    event_record(action="org.deleted", actor=actor, organization_id=organization.id, target=organization, changes={"name": [organization.name, None]})
    UserSession.objects.filter(organization_id=organization.id).update(organization_id=None)
    organization.delete()


# --- members --------------------------------------------------------------------------------


def _role_exists(*, organization: Organization, role: str) -> bool:
    return hooks.role_exists(organization=organization, slug=role)


def role_validate(*, organization: Organization, role: str, field: str = "role") -> str:
    """A role slug the org knows (built-in or custom); owner is never granted this way."""
    if role == Role.OWNER:
        raise ApplicationError(
            code=ErrorCode.INSUFFICIENT_PERMISSIONS,
            message="Ownership changes only through transfer-ownership.",
            status_code=403,
        )
    if not _role_exists(organization=organization, role=role):
        raise validation_error(field, f"Unknown role '{role}'.")
    return role


def _membership_lock(membership: Membership) -> Membership:
    """Lock the org row, then the membership row: the order ownership_transfer takes them in.

    Locking both in one joined `FOR UPDATE` (which also locked the user row) let a role change
    and a concurrent ownership transfer deadlock.
    """
    Organization.objects.select_for_update().only("id").get(id=membership.organization_id)
    return Membership.objects.select_for_update(of=("self",)).select_related("organization", "user").get(id=membership.id)


@transaction.atomic
def member_update(
    *,
    membership: Membership,
    actor: Actor,
    actor_membership: Membership | None,
    data: dict,
    ensure_role_grantable: RoleCheck,
    ensure_not_better: MemberCheck,
) -> Membership:
    """Change a member's role and/or status: only to a role the caller could give, only on a member who is not their better."""
    membership = _membership_lock(membership)
    organization = membership.organization
    if membership.role == Role.OWNER and (("role" in data and data["role"] != Role.OWNER) or data.get("status") == Membership.Status.SUSPENDED):
        raise ApplicationError(
            code=ErrorCode.INSUFFICIENT_PERMISSIONS,
            message="The owner cannot be demoted or suspended; transfer ownership first.",
            status_code=403,
        )
    role_changing = "role" in data and data["role"] != membership.role
    if role_changing:
        role_validate(organization=organization, role=data["role"])
    if actor_membership is not None and membership.user_id == actor_membership.user_id and "status" in data:
        raise validation_error("status", "You cannot change your own status.")
    if role_changing:
        # Nobody hands out more than they hold themselves (API.md v1.1 invariant 1).
        ensure_role_grantable(data["role"])
    if role_changing or ("status" in data and data["status"] != membership.status):
        # Demoting, suspending or reactivating acts on the member: never on a better (invariant 2).
        ensure_not_better(membership)
    old_role = membership.role
    if "status" in data and data["status"] != membership.status:
        # A reason belongs to one suspension (revoke): a status change by PATCH leaves none.
        data = {**data, "status_reason": ""}
    membership, changes = model_update(instance=membership, fields=["role", "status", "status_reason"], data=data)
    if changes:
        authz_revision_bump(organization=organization)
        if "role" in changes:
            event_record(
                action="member.role_changed",
                actor=actor,
                organization_id=organization.id,
                target=membership.user,
                changes={"role": [old_role, membership.role]},
            )
            _notify(event="role_changed", user=membership.user, organization=organization, context={"role": membership.role, "previous_role": old_role})
        if "status" in changes:
            verb = "suspended" if membership.status == Membership.Status.SUSPENDED else "reactivated"
            event_record(
                action=f"member.{verb}",
                actor=actor,
                organization_id=organization.id,
                target=membership.user,
                changes={key: changes[key] for key in ("status", "status_reason") if key in changes},
            )
            if verb == "suspended":
                _sessions_leave_org(user_id=membership.user_id, organization_id=organization.id)
    return membership


@transaction.atomic
def member_revoke(*, membership: Membership, actor: Actor, actor_membership: Membership | None, reason: str, ensure_not_better: MemberCheck) -> Membership:
    """Suspend a member with a reason they and admins see (`status_reason`): never the owner, yourself, or a better."""
    membership = _membership_lock(membership)
    organization = membership.organization
    if membership.role == Role.OWNER:
        raise ApplicationError(
            code=ErrorCode.INSUFFICIENT_PERMISSIONS,
            message="The owner cannot be revoked; transfer ownership first.",
            status_code=403,
        )
    if actor_membership is not None and membership.user_id == actor_membership.user_id:
        raise validation_error("user_id", "You cannot revoke yourself; leave the organization instead.")
    reason = (reason or "").strip()
    if not reason:
        raise validation_error("reason", "Say why the member's access is revoked.")
    # Suspending takes away everything the member holds: never from a better (invariant 2).
    ensure_not_better(membership)
    was = membership.status
    membership, changes = model_update(
        instance=membership, fields=["status", "status_reason"], data={"status": Membership.Status.SUSPENDED, "status_reason": reason}
    )
    if changes:
        authz_revision_bump(organization=organization)
        event_record(
            action="member.suspended",
            actor=actor,
            organization_id=organization.id,
            target=membership.user,
            changes=changes,
            metadata={"reason": reason, "via": "revoke"},
        )
        if was != Membership.Status.SUSPENDED:
            _sessions_leave_org(user_id=membership.user_id, organization_id=organization.id)
    return membership


def _sessions_leave_org(*, user_id, organization_id) -> None:
    UserSession.objects.filter(user_id=user_id, organization_id=organization_id).update(organization_id=None)


def _notify(*, event: str, user, organization, context: dict) -> None:
    notification_services.notify(event=event, user=user, organization=organization, context=context)


@transaction.atomic
def member_remove(*, membership: Membership, actor: Actor, ensure_not_better: MemberCheck) -> None:
    """Remove a member (never the owner, never a better of the caller); their team places and extra roles go with them."""
    membership = _membership_lock(membership)
    if membership.role == Role.OWNER:
        raise ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message="The owner cannot be removed; transfer ownership first.", status_code=403)
    # Removing takes everything the member holds: only someone holding all of it may (invariant 2).
    ensure_not_better(membership)
    _membership_delete(membership=membership)
    event_record(
        action="member.removed",
        actor=actor,
        organization_id=membership.organization_id,
        target=membership.user,
        changes={"role": [membership.role, None]},
    )
    _notify(event="member_removed", user=membership.user, organization=membership.organization, context={})


def _membership_delete(*, membership: Membership) -> None:
    TeamMembership.objects.filter(team__organization=membership.organization, user=membership.user).delete()
    hooks.member_cleanup(organization=membership.organization, user=membership.user)
    membership.delete()
    authz_revision_bump(organization=membership.organization)
    hooks.membership_changed(organization=membership.organization)
    _sessions_leave_org(user_id=membership.user_id, organization_id=membership.organization_id)


@transaction.atomic
def member_leave(*, membership: Membership, actor: Actor) -> None:
    """Leave an org; the owner must transfer ownership first (409)."""
    membership = _membership_lock(membership)
    if membership.role == Role.OWNER:
        raise conflict("The owner cannot leave; transfer ownership first.")
    _membership_delete(membership=membership)
    event_record(action="member.left", actor=actor, organization_id=membership.organization_id, target=membership.user)


@transaction.atomic
def ownership_transfer(*, organization: Organization, actor: Actor, new_owner_id) -> Membership:
    """Make another active member the owner; the old owner becomes admin. Exactly one owner, always."""
    # Lock the org row: concurrent transfers and role changes serialize here.
    organization = Organization.objects.select_for_update().get(id=organization.id)
    current = Membership.objects.select_for_update().get(organization=organization, role=Role.OWNER)
    if actor.user is None or current.user_id != actor.user.pk:
        raise ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message="Only the owner can transfer ownership.", status_code=403)
    target = Membership.objects.select_for_update().select_related("user").filter(organization=organization, user_id=new_owner_id).first()
    if target is None:
        raise validation_error("user_id", "This user is not a member of the organization.")
    if target.id == current.id:
        raise validation_error("user_id", "You already own this organization.")
    if target.status != Membership.Status.ACTIVE:
        raise validation_error("user_id", "Ownership can only go to an active member.")
    previous_role = target.role
    current.role = Role.ADMIN
    current.save(update_fields=["role", "updated_at"])
    target.role = Role.OWNER
    target.save(update_fields=["role", "updated_at"])
    authz_revision_bump(organization=organization)
    event_record(
        action="org.ownership_transferred",
        actor=actor,
        organization_id=organization.id,
        target=target.user,
        changes={"owner": [str(current.user_id), str(target.user_id)], "role": [previous_role, Role.OWNER]},
    )
    return target


@transaction.atomic
def member_profile_update(*, membership: Membership, data: dict, actor: Actor) -> Membership:
    """Update my per-org display name and title."""
    membership, changes = model_update(instance=membership, fields=["display_name", "title"], data=data)
    if changes:
        event_record(
            action="member.profile_updated",
            actor=actor,
            organization_id=membership.organization_id,
            target=membership.user,
            changes=changes,
        )
    return membership


# --- who may join, and as what (org settings `allowed_email_domains`, `default_role`: invariant 9) ---

# Ways in that rest on the address alone (no one chose this person): only a verified one counts.
_EMAIL_TRUSTING_SOURCES = frozenset({"domain", "direct"})


def admission_settings_clean(*, organization: Organization, settings: dict) -> dict:
    """Normalize `allowed_email_domains` (domain names) and check `default_role` (a role of the org, not owner)."""
    from organizations.domains import domain_normalize  # domains imports this module

    cleaned = dict(settings)
    domains = cleaned.get("allowed_email_domains")
    if domains is not None:
        if not all(isinstance(domain, str) for domain in domains):
            raise validation_error("allowed_email_domains", 'Give domain names, e.g. ["example.com"].')
        try:
            cleaned["allowed_email_domains"] = sorted({domain_normalize(domain) for domain in domains})
        except ApplicationError as exc:
            raise validation_error("allowed_email_domains", exc.message) from exc
    role = cleaned.get("default_role")
    if role is not None:
        if role == Role.OWNER or not _role_exists(organization=organization, role=role):
            raise validation_error("default_role", f"Use a role of this organization other than owner, not '{role}'.")
    return cleaned


def email_domain_allowed(*, organization: Organization, email: str) -> bool:
    """Tell whether `email` is at one of the org's `allowed_email_domains` (exact domain; none set: any)."""
    allowed = organization.settings.get("allowed_email_domains") or []
    if not allowed:
        return True
    domain = email.rsplit("@", 1)[1].lower() if "@" in email else ""
    return domain in {entry.lower() for entry in allowed}


def email_domain_require(*, organization: Organization, email: str, field: str = "email") -> None:
    """Raise 400 naming `field` when `email` is outside the org's `allowed_email_domains`."""
    if not email_domain_allowed(organization=organization, email=email):
        allowed = ", ".join(organization.settings.get("allowed_email_domains") or [])
        raise validation_error(field, f"This organization only admits addresses at: {allowed}.")


def default_role(*, organization: Organization) -> str:
    """The role of members who join without an invitation (domain join, direct add): `default_role`, else member."""
    role = organization.settings.get("default_role") or Role.MEMBER
    if role == Role.OWNER or not _role_exists(organization=organization, role=role):
        # A custom role deleted since it was chosen: the documented default, never an error at sign-in.
        return Role.MEMBER
    return role


@transaction.atomic
def membership_add(*, organization: Organization, user, role: str, actor: Actor, source: str = "invite", action: str = "member.joined") -> Membership:
    """Add an active member (idempotent: an existing membership is returned unchanged).

    Every way in passes here, so the admission rules hold on all of them: the address must be
    at one of the org's `allowed_email_domains`, and verified when nobody chose this person
    (domain join, direct add) — 400 VALIDATION_ERROR naming `email` otherwise.
    """
    if not Membership.objects.filter(organization=organization, user=user).exists():
        email_domain_require(organization=organization, email=user.email)
        if source in _EMAIL_TRUSTING_SOURCES and not user.email_verified:
            # Invariant 3: an unverified address proves nothing about who reads that inbox.
            raise validation_error("email", "This address is not verified: invite the person instead.")
    membership, created = Membership.objects.get_or_create(organization=organization, user=user, defaults={"role": role, "joined_at": clock.now()})
    if created:
        authz_revision_bump(organization=organization)
        hooks.membership_changed(organization=organization)
        event_record(
            action=action,
            actor=actor,
            organization_id=organization.id,
            target=user,
            changes={"role": [None, role]},
            metadata={"source": source},
        )
    return membership


# One answer whatever the reason, so the endpoint does not tell who has an account.
_NOT_DIRECT = "This person cannot be added directly: invite them instead (POST /orgs/{id}/invites)."


@transaction.atomic
def member_add(*, organization: Organization, email: str, actor: Actor, ensure_role_grantable: RoleCheck, role: str | None = None) -> Membership:
    """Add an existing user at once, without an invitation.

    Only someone whose e-mail is verified (invariant 3) and at one of the org's verified domains
    (organizations.domains: the org proved it owns the mailboxes there), inside its
    `allowed_email_domains`; anyone else gets 400 pointing to invites. The role defaults to the
    org's `default_role` and must be one the caller could give; the member limit applies (402).
    """
    from django.contrib.auth import get_user_model

    from organizations.invites import members_used  # invites imports this module
    from organizations.models import Domain

    email = (email or "").strip()
    email_domain_require(organization=organization, email=email)
    role = role_validate(organization=organization, role=role) if role else default_role(organization=organization)
    # Nobody hands out more than they hold themselves (invariant 1), the default role included.
    ensure_role_grantable(role)
    user = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
    domain = email.rsplit("@", 1)[1].lower() if "@" in email else ""
    verified_domain = bool(domain) and Domain.objects.filter(organization=organization, domain=domain, verified_at__isnull=False).exists()
    if user is None or not user.email_verified or not verified_domain:
        raise validation_error("email", _NOT_DIRECT)
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise conflict("This person is already a member of the organization.", email=["Already a member."])
    # Lock the org row: two concurrent adds cannot both take the last seat.
    Organization.objects.select_for_update().only("id").get(id=organization.id)
    entitlements.require(organization, "max_members", used=members_used(organization))
    membership = membership_add(organization=organization, user=user, role=role, actor=actor, source="direct", action="member.added")
    _notify(event="role_changed", user=user, organization=organization, context={"role": role, "previous_role": None})
    return membership
