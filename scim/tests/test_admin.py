"""Staff admin of SCIM tokens: never the secret or its hash; revoking goes through the token service."""

import pytest

from audit.models import AuditEvent
from scim.models import ScimToken
from scim.tests.conftest import ScimClient, scim_error

pytestmark = pytest.mark.django_db

TOKENS = "/admin/scim/scimtoken/"


def test_token_pages_never_show_the_secret_or_its_hash(admin_client_otp, idp, org):
    token = ScimToken.objects.get(organization=org)

    pages = [admin_client_otp.get(TOKENS), admin_client_otp.get(f"{TOKENS}{token.pk}/change/")]

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert token.prefix in html
        assert idp.secret not in html and token.secret_hash not in html


def test_staff_revoke_through_the_service(admin_client_otp, idp, org):
    token = ScimToken.objects.get(organization=org)

    response = admin_client_otp.post(TOKENS, {"action": "revoke", "_selected_action": [str(token.pk)]})

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(organization_id=org.id, action="scim.token_revoked", actor_type="user").exists()
    scim_error(ScimClient(org, idp.secret).get("Users"), 401)
