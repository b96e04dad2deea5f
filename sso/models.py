"""SSO connections: one per IdP an organization signs its people in through (OIDC or SAML 2.0)."""

import uuid

from allauth.socialaccount.models import SocialApp
from django.db import models

from core import clock
from organizations.models import Organization


class SSOConnection(models.Model):
    """An org's IdP, run by the allauth app it owns (created and kept only by `sso.services`).

    Secrets (the OIDC client secret; the SAML IdP settings) are sealed with the org's vault key in
    `sealed`; the allauth app holds none of them (they are put on it in memory per request).
    """

    class Kind(models.TextChoices):
        OIDC = "oidc"
        SAML = "saml"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sso_connections")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    name = models.CharField(max_length=100)
    # E-mail domains it serves, each a verified domain of the org (checked on write and at sign-in).
    domains = models.JSONField(default=list)
    enforce = models.BooleanField(default=False)
    # Who the IdP may sign in (API.md v1.1 invariant 2, no acting on betters): the permissions the
    # member who last chose its IdP settings or domains held then (["*"]: the owner, everyone). A
    # member holding more signs in their own way; so does a newcomer whose default role brings more.
    trusted_permissions = models.JSONField(default=list)
    # One allauth app per connection: provider "openid_connect" or "saml", provider_id = str(id).
    social_app = models.OneToOneField(SocialApp, on_delete=models.PROTECT, related_name="sso_connection")
    # OIDC: the issuer (discovery at <issuer>/.well-known/openid-configuration). SAML: the IdP
    # metadata URL when given as a URL, and the IdP entity id read from the metadata.
    issuer = models.CharField(max_length=500, blank=True)
    metadata_url = models.CharField(max_length=500, blank=True)
    # Vault-sealed JSON: {"client_secret": ...} (OIDC) or {"idp": {...}} (SAML).
    sealed = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "SSO connection"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    ALL = "*"

    @property
    def provider_id(self) -> str:
        return str(self.id)
