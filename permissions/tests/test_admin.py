"""Staff admin of API keys and roles: never the secret or its hash; revoking goes through the key service."""

import pytest

from audit.models import AuditEvent
from core.actor import Actor
from permissions import apikeys
from permissions.models import ApiKey

pytestmark = pytest.mark.django_db

KEYS = "/admin/permissions/apikey/"


@pytest.fixture
def issued(org_factory, unlimited_plan):
    """A key created through the service: the row and the secret shown once."""
    organization, members = org_factory(roles=("owner",))
    owner = members["owner"].user
    api_key, secret = apikeys.api_key_create(
        organization=organization,
        name="ci",
        grantable=frozenset({"documents:read"}),
        scopes=["documents:read"],
        created_by=owner,
        actor=Actor.for_user(owner),
    )
    return api_key, secret


def test_key_pages_never_show_the_secret_or_its_hash(admin_client_otp, issued):
    api_key, secret = issued

    pages = [admin_client_otp.get(KEYS), admin_client_otp.get(f"{KEYS}{api_key.pk}/change/")]

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert api_key.prefix in html
        assert secret not in html and api_key.secret_hash not in html
        assert "secret_hash" not in html


def test_revoke_action_calls_the_service_and_is_audited(admin_client_otp, issued):
    api_key, _ = issued

    response = admin_client_otp.post(KEYS, {"action": "revoke", "_selected_action": [str(api_key.pk)]})

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.status == "revoked"
    event = AuditEvent.objects.get(action="api_key.revoked", target_id=str(api_key.pk))
    assert event.actor_type == "user"


def test_keys_cannot_be_added_edited_or_deleted_by_hand(admin_client_otp, issued):
    api_key, _ = issued

    assert admin_client_otp.get(f"{KEYS}add/").status_code == 403
    assert admin_client_otp.post(f"{KEYS}{api_key.pk}/change/", {"name": "x"}).status_code == 403
    assert admin_client_otp.get(f"{KEYS}{api_key.pk}/delete/").status_code == 403
    assert ApiKey.objects.get(pk=api_key.pk).name == "ci"
