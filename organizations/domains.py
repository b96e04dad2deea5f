"""Claimed email domains: claim, verify through a DNS TXT record, release; membership for their users."""

import logging
import re
import secrets

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import QuerySet

from audit.services import event_record
from core import clock, entitlements
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from organizations import invites
from organizations.models import Domain, Organization
from organizations.services import default_role, email_domain_allowed, membership_add

logger = logging.getLogger(__name__)

DNS_LIFETIME_SECONDS = 5.0
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Anyone can get an address at these: claiming one would hand its users to a single org.
PUBLIC_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "zoho.com",
        "qq.com",
        "163.com",
        "126.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "tuta.io",
        "aim.com",
        "rediffmail.com",
        "inbox.com",
        "libero.it",
        "orange.fr",
        "free.fr",
        "t-online.de",
        "naver.com",
    }
)


class DomainLookupError(Exception):
    """The TXT records of a domain could not be read."""


def txt_records(name: str) -> list[str]:
    """The TXT strings published at `name` ([] when there are none); tests replace this function."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=DNS_LIFETIME_SECONDS)
    except dns.resolver.NoAnswer:
        return []
    except dns.resolver.NXDOMAIN:
        raise DomainLookupError(f"The domain {name} does not exist in DNS.") from None
    except dns.exception.Timeout:
        raise DomainLookupError("The DNS lookup timed out; try again in a few minutes.") from None
    except dns.exception.DNSException:
        raise DomainLookupError("The DNS lookup failed; try again in a few minutes.") from None
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def domain_normalize(value: str) -> str:
    """A lower-case ASCII (IDNA) domain name with at least two labels; 400 naming `domain` otherwise."""
    name = (value or "").strip().lower().rstrip(".")
    if "@" in name or "/" in name or ":" in name:
        raise validation_error("domain", "Give the domain alone, e.g. example.com.")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise validation_error("domain", "This is not a valid domain name.") from None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise validation_error("domain", "This is not a valid domain name.")
    return name


def email_domain(email: str) -> str:
    """An address's domain as domains are stored here (lower case, IDNA): `eve@Bücher.test` → `xn--bcher-kva.test`; "" if none."""
    if "@" not in (email or ""):
        return ""
    try:
        return email.rsplit("@", 1)[1].strip().lower().rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return ""


# --- reads ------------------------------------------------------------------------------------


def domain_list(*, organization: Organization) -> QuerySet[Domain]:
    """Domains the org has claimed, by name."""
    return Domain.objects.filter(organization=organization).order_by("domain")


def domain_get(*, organization: Organization, domain_id) -> Domain:
    """One claimed domain of the org (404 otherwise, also for another org's)."""
    domain = domain_list(organization=organization).filter(id=domain_id).first()
    if domain is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="Domain not found.", status_code=404)
    return domain


def _verified_elsewhere(*, name: str, organization_id) -> bool:
    return Domain.objects.filter(domain=name, verified_at__isnull=False).exclude(organization_id=organization_id).exists()


_TAKEN = "This domain is already verified by another organization."


# --- writes -----------------------------------------------------------------------------------


@transaction.atomic
def domain_claim(*, organization: Organization, domain: str, join_policy: str, actor: Actor) -> Domain:
    """Claim a domain (unverified until its TXT record is found); public webmail domains are refused."""
    name = domain_normalize(domain)
    if name in PUBLIC_EMAIL_DOMAINS:
        raise validation_error("domain", "Public email domains cannot be claimed.")
    if Domain.objects.filter(organization=organization, domain=name).exists():
        raise conflict("This organization has already claimed this domain.", domain=["Already claimed."])
    if _verified_elsewhere(name=name, organization_id=organization.id):
        raise conflict(_TAKEN, domain=[_TAKEN])
    try:
        with transaction.atomic():
            claimed = Domain.objects.create(
                organization=organization,
                domain=name,
                join_policy=join_policy,
                verification_token=secrets.token_hex(20),
                created_at=clock.now(),
            )
    except IntegrityError:
        raise conflict("This organization has already claimed this domain.", domain=["Already claimed."]) from None
    event_record(
        action="domain.claimed",
        actor=actor,
        organization_id=organization.id,
        target=claimed,
        changes={"domain": [None, name], "join_policy": [None, join_policy]},
    )
    return claimed


@transaction.atomic
def domain_verify(*, domain: Domain, actor: Actor) -> Domain:
    """Look the TXT record up; found → verified (already verified: unchanged), else 400 saying why."""
    if domain.verified_at is not None:
        return domain
    if _verified_elsewhere(name=domain.domain, organization_id=domain.organization_id):
        raise conflict(_TAKEN, domain=[_TAKEN])
    # Looked up before any row is locked: a slow resolver must not hold locks.
    try:
        records = txt_records(domain.domain)
    except DomainLookupError as exc:
        raise validation_error("domain", str(exc)) from exc
    if domain.verification_record not in {record.strip().strip('"') for record in records}:
        raise validation_error(
            "domain",
            f"No TXT record `{domain.verification_record}` found at {domain.domain}. Add it, wait for DNS to update, then try again.",
        )
    domain = Domain.objects.select_for_update().get(id=domain.id)
    if domain.verified_at is not None:
        return domain
    domain.verified_at = clock.now()
    try:
        with transaction.atomic():
            domain.save(update_fields=["verified_at"])
    except IntegrityError:
        raise conflict(_TAKEN, domain=[_TAKEN]) from None
    event_record(
        action="domain.verified",
        actor=actor,
        organization_id=domain.organization_id,
        target=domain,
        changes={"verified_at": [None, domain.verified_at]},
    )
    return domain


@transaction.atomic
def domain_delete(*, domain: Domain, actor: Actor) -> None:
    """Release a claimed domain; its users are no longer offered membership."""
    event_record(
        action="domain.deleted",
        actor=actor,
        organization_id=domain.organization_id,
        target=domain,
        changes={"domain": [domain.domain, None]},
    )
    domain.delete()


# --- sign-in hook ----------------------------------------------------------------------------


def _offer(*, claim: Domain, user, actor: Actor) -> None:
    organization = claim.organization
    if not email_domain_allowed(organization=organization, email=user.email):
        return  # the org admits other domains only (`allowed_email_domains`): no offer, no error at sign-in
    if claim.join_policy == Domain.JoinPolicy.AUTO_JOIN:
        if not entitlements.check(organization, "max_members", used=invites.members_used(organization)).allowed:
            return
        role = default_role(organization=organization)
        membership_add(organization=organization, user=user, role=role, actor=actor.as_user(user), source="domain")
    else:
        # Nobody chose this person: the platform makes the offer (a system event).
        invites.invite_offer(organization=organization, user=user, actor=actor.as_system())


def domain_sign_in(*, user, actor: Actor) -> None:
    """Offer (invite) or grant (auto_join) membership to a user whose verified email is on a verified domain."""
    # Only a verified address proves the user belongs to the domain's organization.
    if not user.email_verified or "@" not in user.email:
        return
    name = user.email.rsplit("@", 1)[1].lower()
    claims = Domain.objects.filter(domain=name, verified_at__isnull=False).exclude(organization__memberships__user=user).select_related("organization")
    for claim in claims:
        try:
            with transaction.atomic():
                _offer(claim=claim, user=user, actor=actor)
        except (ApplicationError, DatabaseError):
            # An offer that fails must never fail the sign-in it rides on.
            logger.exception("domain membership offer failed for user %s in org %s", user.id, claim.organization_id)
