"""Reads of SSO connections: per org for the admin API, by domain or allauth provider id for sign-in."""

import uuid

from django.db.models import QuerySet

from core.errors import ErrorCode
from core.exceptions import ApplicationError
from organizations import domains
from organizations.models import Domain, Organization
from sso.models import SSOConnection


def connection_list(*, organization: Organization) -> QuerySet[SSOConnection]:
    return SSOConnection.objects.filter(organization=organization).select_related("social_app").order_by("created_at")


def connection_get(*, organization: Organization, connection_id) -> SSOConnection:
    """One connection of the org (404 otherwise, also for another org's)."""
    connection = connection_list(organization=organization).filter(id=connection_id).first()
    if connection is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="SSO connection not found.", status_code=404)
    return connection


def connection_by_provider_id(provider_id) -> SSOConnection | None:
    """The connection whose allauth app has this provider id (its own id), or None (Google, unknown)."""
    try:
        connection_id = uuid.UUID(str(provider_id))
    except (TypeError, ValueError):
        return None
    return SSOConnection.objects.select_related("social_app", "organization").filter(id=connection_id).first()


def email_domain(email: str) -> str:
    """The address's domain as the org's domains are stored (lower case, IDNA/punycode); "" when it has none."""
    return domains.email_domain(email)


def verified_domain_names(*, organization: Organization) -> set[str]:
    return set(Domain.objects.filter(organization=organization, verified_at__isnull=False).values_list("domain", flat=True))


def connection_for_domain(domain: str) -> SSOConnection | None:
    """The connection serving `domain`, through the one org that verified it (None when none does)."""
    if not domain:
        return None
    claim = Domain.objects.filter(domain=domain, verified_at__isnull=False).select_related("organization").first()
    if claim is None:
        return None
    # An org has a handful of connections: matched here, as JSON containment is not portable (SQLite).
    return next((connection for connection in connection_list(organization=claim.organization) if domain in connection.domains), None)


def connections_enforced_for(domain: str) -> list[SSOConnection]:
    """Enforcing connections that serve `domain` (of the org that verified it)."""
    if not domain:
        return []
    candidates = SSOConnection.objects.filter(
        enforce=True,
        organization__domains__domain=domain,
        organization__domains__verified_at__isnull=False,
    ).select_related("organization")
    return [connection for connection in candidates if domain in connection.domains]
