"""Writes of SSO connections: each keeps exactly one allauth app, created and updated only here.

The IdP documents are fetched (and checked) before the transaction opens; the rows, the allauth
app and the audit event are then written together.
"""

import logging

from allauth.socialaccount.models import SocialAccount, SocialApp
from django.conf import settings
from django.contrib.sites.models import Site
from django.db import transaction

from audit.services import event_record
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error
from integrations import vault
from organizations.context import context_forget
from organizations.domains import domain_normalize
from organizations.models import Organization
from sso import oidc, saml, selectors
from sso.models import SSOConnection

logger = logging.getLogger(__name__)

OIDC_PROVIDER = "openid_connect"
SAML_PROVIDER = "saml"


def absolute_url(request, path: str) -> str:
    """An absolute URL of ours given to an IdP: on `SSO_SP_BASE_URL` when set, else the request's host."""
    base = settings.SSO_SP_BASE_URL
    return f"{base.rstrip('/')}{path}" if base else request.build_absolute_uri(path)


def _domains_clean(*, organization: Organization, domains, connection: SSOConnection | None = None) -> list[str]:
    """Normalized domains, each verified by the org and served by no other of its connections."""
    if not isinstance(domains, list) or not domains:
        raise validation_error("domains", "Give at least one of the organization's verified domains.")
    if not all(isinstance(value, str) for value in domains):
        raise validation_error("domains", 'Give domain names, e.g. ["example.com"].')
    try:
        names = sorted({domain_normalize(value) for value in domains})
    except ApplicationError as exc:  # it names `domain`: re-labelled for this body
        raise validation_error("domains", exc.message) from None
    unverified = sorted(set(names) - selectors.verified_domain_names(organization=organization))
    if unverified:
        # Only a domain the org proved it owns lets its IdP vouch for addresses there (invariant 3).
        raise validation_error("domains", f"Not a verified domain of this organization: {', '.join(unverified)}.")
    others = selectors.connection_list(organization=organization)
    if connection is not None:
        others = others.exclude(id=connection.id)
    taken = sorted({name for other in others for name in other.domains} & set(names))
    if taken:
        raise conflict(f"Another SSO connection already serves {', '.join(taken)}.", domains=["Already served by another connection."])
    return names


def _lock(organization: Organization) -> None:
    # Two concurrent writes cannot both claim the same domain for two connections.
    Organization.objects.select_for_update().only("id").get(id=organization.id)


def _oidc_resolve(data: dict, *, current: dict | None = None) -> tuple[str, dict, dict]:
    """(issuer, allauth app settings, sealed payload) of an OIDC body; discovery fetched and checked."""
    current = current or {}
    issuer = oidc.issuer_normalize(data.get("issuer", current.get("issuer", "")))
    if not issuer:
        raise validation_error("oidc.issuer", "Give the IdP's issuer URL.")
    oidc.discovery_fetch(issuer)
    secret = data.get("client_secret", current.get("client_secret"))
    if not secret:
        raise validation_error("oidc.client_secret", "Give the client secret the IdP issued.")
    app_settings = {"server_url": issuer, "oauth_pkce_enabled": True, "fetch_userinfo": True, "hidden": True}
    return issuer, app_settings, {"client_secret": secret}


def _app_sync(app: SocialApp, *, connection: SSOConnection, client_id: str, app_settings: dict) -> SocialApp:
    app.provider = OIDC_PROVIDER if connection.kind == SSOConnection.Kind.OIDC else SAML_PROVIDER
    app.provider_id = connection.provider_id
    app.name = connection.name
    app.client_id = client_id
    app.secret = ""  # the secret lives sealed on the connection, never in allauth's plain column
    app.key = ""
    app.settings = app_settings
    app.save()
    app.sites.set([Site.objects.get_current()])
    return app


def _public_fields(connection: SSOConnection) -> dict:
    return {
        "name": connection.name,
        "domains": list(connection.domains),
        "enforce": connection.enforce,
        "trusted_permissions": list(connection.trusted_permissions),
        "issuer": connection.issuer,
        "metadata_url": connection.metadata_url,
    }


def _enforcement_sync(organization: Organization) -> None:
    """Copy the domains the org's connections enforce onto the org row (read by every org-scoped request)."""
    # The org row locked first: two admins changing two connections at once cannot each write a
    # list missing the other's change (create and update hold it already; delete takes it here).
    _lock(organization)
    enforced = sorted({domain for connection in SSOConnection.objects.filter(organization=organization, enforce=True) for domain in connection.domains})
    Organization.objects.filter(id=organization.id).update(sso_enforced_domains=enforced)
    organization.sso_enforced_domains = enforced
    context_forget(organization_id=organization.id)  # the cached org row carries the old list


# PATCH fields that choose whom the IdP vouches for: changing one re-stamps the connection's trust.
TRUST_FIELDS = ("oidc", "saml", "domains")


def connection_create(*, organization: Organization, actor: Actor, data: dict, trusted_permissions: list[str]) -> SSOConnection:
    """Create a connection and its allauth app (`data` as validated by the API's serializer).

    `trusted_permissions`: what the member choosing the IdP holds (["*"] for the owner); the IdP
    signs in nobody holding more (sso.signin.sso_refusal).
    """
    kind = data["type"]
    connection = SSOConnection(
        organization=organization, kind=kind, name=data["name"], enforce=data.get("enforce", False), trusted_permissions=sorted(trusted_permissions)
    )
    if kind == SSOConnection.Kind.OIDC:
        body = data.get("oidc") or {}
        if not body.get("client_id"):
            raise validation_error("oidc.client_id", "Give the client id the IdP issued.")
        connection.issuer, app_settings, payload = _oidc_resolve(body)
        client_id = body["client_id"]
    else:
        resolved = saml.idp_resolve(data.get("saml") or {})
        connection.issuer, connection.metadata_url = resolved.entity_id, resolved.metadata_url
        app_settings, payload = saml.app_settings(connection), {"idp": resolved.idp}
        client_id = organization.slug
    with transaction.atomic():
        _lock(organization)
        connection.domains = _domains_clean(organization=organization, domains=data.get("domains"))
        connection.social_app = SocialApp()
        if kind == SSOConnection.Kind.SAML:
            app_settings = saml.app_settings(connection)
        _app_sync(connection.social_app, connection=connection, client_id=client_id, app_settings=app_settings)
        connection.sealed = vault.seal(organization=organization, payload=payload)
        connection.save()
        _enforcement_sync(organization)
        event_record(
            action="sso.connection_created",
            actor=actor,
            organization_id=organization.id,
            target=connection,
            metadata={"type": kind, **_public_fields(connection)},
        )
    return connection


def secrets_of(connection: SSOConnection) -> dict:
    """The connection's sealed settings (client secret or SAML IdP settings), opened in memory."""
    try:
        return vault.unseal(organization=connection.organization, token=connection.sealed)
    except vault.VaultError:
        # A master key dropped too early (INTEGRATIONS_MASTER_KEYS): an operator's fix, not the caller's.
        logger.error("SSO connection %s: its settings cannot be decrypted", connection.id)
        raise ApplicationError(code=ErrorCode.SERVICE_UNAVAILABLE, message="This SSO connection cannot be used right now.", status_code=503) from None


def connection_update(*, connection: SSOConnection, actor: Actor, data: dict, trusted_permissions: list[str]) -> SSOConnection:
    """Change name, domains, enforce or the IdP settings (the type never changes).

    Changing the IdP settings or the domains re-stamps `trusted_permissions` with the caller's.
    """
    before = _public_fields(connection)
    current = secrets_of(connection)
    app = connection.social_app
    old_client_id = client_id = app.client_id
    app_settings, payload = dict(app.settings), current
    if connection.kind == SSOConnection.Kind.OIDC and "oidc" in data:
        body = data["oidc"] or {}
        client_id = body.get("client_id") or client_id
        connection.issuer, app_settings, payload = _oidc_resolve(body, current={"issuer": connection.issuer, **current})
    if connection.kind == SSOConnection.Kind.SAML and "saml" in data:
        resolved = saml.idp_resolve(data["saml"] or {})
        connection.issuer, connection.metadata_url, payload = resolved.entity_id, resolved.metadata_url, {"idp": resolved.idp}
    with transaction.atomic():
        _lock(connection.organization)
        if "name" in data:
            connection.name = data["name"]
        if "enforce" in data:
            connection.enforce = data["enforce"]
        if "domains" in data:
            connection.domains = _domains_clean(organization=connection.organization, domains=data["domains"], connection=connection)
        if any(field in data for field in TRUST_FIELDS):
            connection.trusted_permissions = sorted(trusted_permissions)
        if connection.kind == SSOConnection.Kind.SAML:
            app_settings = saml.app_settings(connection)
        _app_sync(app, connection=connection, client_id=client_id, app_settings=app_settings)
        connection.sealed = vault.seal(organization=connection.organization, payload=payload)
        connection.save()
        _enforcement_sync(connection.organization)
        after = _public_fields(connection)
        changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        secrets_changed = payload != current or client_id != old_client_id
        event_record(
            action="sso.connection_updated",
            actor=actor,
            organization_id=connection.organization_id,
            target=connection,
            changes=changes,
            metadata={"type": connection.kind, "idp_settings_changed": secrets_changed},
        )
    return connection


@transaction.atomic
def connection_delete(*, connection: SSOConnection, actor: Actor) -> None:
    """Delete a connection, its allauth app and the identities linked through it."""
    event_record(
        action="sso.connection_deleted",
        actor=actor,
        organization_id=connection.organization_id,
        target=connection,
        metadata={"type": connection.kind, **_public_fields(connection)},
    )
    app = connection.social_app
    SocialAccount.objects.filter(provider=connection.provider_id).delete()
    connection.delete()
    app.delete()
    _enforcement_sync(connection.organization)
