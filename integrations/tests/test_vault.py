"""Envelope encryption: per-org data keys, master-key rotation without downtime."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from audit.models import AuditEvent
from core.actor import Actor
from integrations import services, vault
from integrations.models import Integration, OrgDataKey
from integrations.providers import provider_get
from organizations.models import Organization
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def fresh(organization):
    """The org as a new request or task loads it (the unwrapped data key is kept per loaded row)."""
    return Organization.objects.get(pk=organization.pk)


OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_seal_round_trip_and_per_org_keys(settings):
    settings.INTEGRATIONS_MASTER_KEYS = [OLD]
    org_a, org_b = OrganizationFactory(), OrganizationFactory()

    token = vault.seal(organization=org_a, payload={"api_key": "s3cret"})

    assert "s3cret" not in token
    assert vault.unseal(organization=org_a, token=token) == {"api_key": "s3cret"}
    vault.seal(organization=org_b, payload={})
    with pytest.raises(vault.VaultError):
        vault.unseal(organization=fresh(org_b), token=token)  # another org's data key cannot open it
    row = OrgDataKey.objects.get(organization=org_a)
    assert row.master_key_id == vault.key_id(OLD.encode())
    assert OLD not in row.wrapped_key


def test_development_key_is_derived_when_none_is_configured(settings):
    settings.INTEGRATIONS_MASTER_KEYS = []
    organization = OrganizationFactory()

    token = vault.seal(organization=organization, payload={"a": 1})

    assert vault.unseal(organization=organization, token=token) == {"a": 1}


def test_a_malformed_master_key_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.INTEGRATIONS_MASTER_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured):
        vault.seal(organization=OrganizationFactory(), payload={})


def test_rotation_keeps_old_ciphertexts_readable_then_rewraps(settings, capsys):
    settings.INTEGRATIONS_MASTER_KEYS = [OLD]
    organizations = [OrganizationFactory() for _ in range(3)]
    for organization in organizations:
        services.integration_connect(
            organization=organization, provider=provider_get("sendgrid"), type="api_key", credentials={"api_key": f"k-{organization.pk}"}, actor=Actor.system()
        )
    ciphertexts = dict(Integration.objects.values_list("organization_id", "secret"))

    # Step 1: the new key goes in front; nothing is re-wrapped yet, everything still opens.
    settings.INTEGRATIONS_MASTER_KEYS = [NEW, OLD]
    for organization in organizations:
        assert vault.unseal(organization=fresh(organization), token=ciphertexts[organization.pk]) == {"api_key": f"k-{organization.pk}"}
    call_command("integrations_rotate_keys", "--dry-run")
    assert "3 data key(s) to re-wrap" in capsys.readouterr().out

    # Step 2: re-wrap.
    call_command("integrations_rotate_keys")
    assert "Re-wrapped 3 data key(s)" in capsys.readouterr().out
    assert set(OrgDataKey.objects.values_list("master_key_id", flat=True)) == {vault.key_id(NEW.encode())}
    assert AuditEvent.objects.filter(action="integration.data_key_rewrapped").count() == 3
    # The credentials' own ciphertexts never changed: only the data keys' wrapping did.
    assert dict(Integration.objects.values_list("organization_id", "secret")) == ciphertexts

    # Step 3: the old key is dropped; everything still opens with the new one alone.
    settings.INTEGRATIONS_MASTER_KEYS = [NEW]
    for organization in organizations:
        assert vault.unseal(organization=fresh(organization), token=ciphertexts[organization.pk]) == {"api_key": f"k-{organization.pk}"}

    # Running it again is a no-op.
    call_command("integrations_rotate_keys")
    assert "Re-wrapped 0 data key(s)" in capsys.readouterr().out


def test_dropping_the_old_key_too_early_is_detected(settings):
    settings.INTEGRATIONS_MASTER_KEYS = [OLD]
    organization = OrganizationFactory()
    token = vault.seal(organization=organization, payload={"x": 1})

    settings.INTEGRATIONS_MASTER_KEYS = [NEW]

    with pytest.raises(vault.VaultError):
        vault.unseal(organization=fresh(organization), token=token)
    with pytest.raises(SystemExit):
        call_command("integrations_rotate_keys")
