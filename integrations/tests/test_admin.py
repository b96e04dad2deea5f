"""The staff admin shows integrations without their credentials, and can revoke them."""

import pytest
from django.urls import reverse

from core.actor import Actor
from integrations import services
from integrations.models import Integration
from integrations.providers import provider_get
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration():
    integration, _ = services.integration_connect(
        organization=OrganizationFactory(), provider=provider_get("sendgrid"), type="api_key", credentials={"api_key": "SG.topsecret"}, actor=Actor.system()
    )
    return integration


def test_admin_pages_never_show_the_credentials(admin_client_otp, integration):
    pages = [
        reverse("admin:integrations_integration_changelist"),
        reverse("admin:integrations_integration_change", args=[integration.pk]),
        reverse("admin:integrations_orgdatakey_changelist"),
        reverse("admin:integrations_integrationlog_changelist"),
    ]
    for page in pages:
        response = admin_client_otp.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert "SG.topsecret" not in html
        assert integration.secret not in html
        assert integration.organization.integrations_data_key.wrapped_key not in html


def test_admin_revoke_action_wipes_the_secret(admin_client_otp, integration):
    response = admin_client_otp.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "revoke", "_selected_action": [str(integration.pk)]},
    )

    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.status == Integration.Status.REVOKED and integration.secret == ""
