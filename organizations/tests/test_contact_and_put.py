"""Org contact fields (`email`, `phone`) and PUT as an alias of PATCH (API.md v1.1 "Request conventions added")."""

import pytest

from audit.models import AuditEvent
from conftest import client_for
from organizations.models import Membership, Organization
from organizations.tests.factories import OrganizationFactory
from permissions.models import Role

pytestmark = pytest.mark.django_db


def code_of(response) -> str:
    return response.json()["error"]["code"]


# --- email and phone --------------------------------------------------------------------------


def test_create_org_with_email_and_phone_normalises_the_phone(auth_client):
    # when
    response = auth_client.post("/api/v1/orgs", {"name": "Acme", "email": "hello@acme.test", "phone": "+1 (415) 555-0123"}, format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "hello@acme.test" and body["phone"] == "+14155550123"
    organization = Organization.objects.get(id=body["id"])
    assert (organization.email, organization.phone) == ("hello@acme.test", "+14155550123")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("phone", "4155550123"),  # no country code
        ("phone", "+0415555012"),  # a country code never starts with 0
        ("phone", "+1 415 555 0123 45678"),  # over 15 digits
        ("phone", "+1-800-FLOWERS"),
    ],
)
def test_create_org_refuses_a_bad_email_or_phone(auth_client, field, value):
    response = auth_client.post("/api/v1/orgs", {"name": "Acme", field: value}, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not Organization.objects.exists()


def test_update_org_contact_is_audited_and_can_be_cleared(org):
    organization, members = org
    owner = client_for(members["owner"].user, organization)
    url = f"/api/v1/orgs/{organization.id}"

    # when
    set_ = owner.patch(url, {"email": "ops@acme.test", "phone": "+44 20 7946 0958"}, format="json")
    cleared = owner.patch(url, {"phone": ""}, format="json")

    # then
    assert set_.status_code == 200 and set_.json()["phone"] == "+442079460958"
    assert cleared.status_code == 200 and cleared.json()["phone"] == "" and cleared.json()["email"] == "ops@acme.test"
    changes = [event.changes for event in AuditEvent.objects.filter(action="org.updated").order_by("created_at")]
    assert changes[0]["email"] == ["", "ops@acme.test"] and changes[0]["phone"] == ["", "+442079460958"]
    assert changes[1] == {"phone": ["+442079460958", ""]}


def test_a_bad_phone_on_update_changes_nothing(org):
    organization, members = org
    owner = client_for(members["owner"].user, organization)

    response = owner.patch(f"/api/v1/orgs/{organization.id}", {"name": "Renamed", "phone": "call me"}, format="json")

    assert response.status_code == 400 and "phone" in response.json()["error"]["details"]
    organization.refresh_from_db()
    assert organization.name != "Renamed"


# --- PUT = PATCH ------------------------------------------------------------------------------


def test_put_org_takes_the_patch_body(org):
    organization, members = org
    owner = client_for(members["owner"].user, organization)

    response = owner.put(f"/api/v1/orgs/{organization.id}", {"name": "Put Name", "email": "put@acme.test"}, format="json")

    assert response.status_code == 200, response.content
    organization.refresh_from_db()
    assert (organization.name, organization.email) == ("Put Name", "put@acme.test")


def test_put_org_needs_what_patch_needs(org):
    organization, members = org
    viewer = client_for(members["viewer"].user, organization)

    response = viewer.put(f"/api/v1/orgs/{organization.id}", {"name": "Mine now"}, format="json")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"


def test_put_on_another_orgs_id_is_404(org):
    organization, members = org
    other = OrganizationFactory()
    owner = client_for(members["owner"].user, organization)

    for url, body in (
        (f"/api/v1/orgs/{other.id}", {"name": "x"}),
        (f"/api/v1/orgs/{other.id}/settings", {"settings": {"locale": "fr"}}),
    ):
        response = owner.put(url, body, format="json")
        assert response.status_code == 404, url
    other.refresh_from_db()
    assert other.name != "x" and "locale" not in other.settings


def test_put_settings_merges_like_patch(org):
    organization, members = org
    owner = client_for(members["owner"].user, organization)

    response = owner.put(f"/api/v1/orgs/{organization.id}/settings", {"settings": {"locale": "fr"}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["settings"]["locale"] == "fr"


def test_put_member_changes_the_role_with_patch_rules(org):
    organization, members = org
    admin = client_for(members["admin"].user, organization)
    url = f"/api/v1/orgs/{organization.id}/members/{{}}"

    # when
    demoted = admin.put(url.format(members["member"].user_id), {"role": "viewer"}, format="json")
    owner_granted = admin.put(url.format(members["viewer"].user_id), {"role": "owner"}, format="json")
    unknown = admin.put(url.format(members["viewer"].user_id), {"role": "viewer", "nickname": "x"}, format="json")

    # then
    assert demoted.status_code == 200, demoted.content
    assert Membership.objects.get(pk=members["member"].pk).role == "viewer"
    assert owner_granted.status_code in (400, 403)  # an admin cannot grant owner
    assert unknown.status_code == 400 and "nickname" in unknown.json()["error"]["details"]
    assert Membership.objects.get(pk=members["viewer"].pk).role == "viewer"


def test_put_member_by_a_viewer_is_refused(org):
    organization, members = org
    viewer = client_for(members["viewer"].user, organization)

    response = viewer.put(f"/api/v1/orgs/{organization.id}/members/{members['member'].user_id}", {"role": "viewer"}, format="json")

    assert response.status_code == 403
    assert Membership.objects.get(pk=members["member"].pk).role == "member"


def test_put_role_takes_the_patch_body(org):
    organization, members = org
    role = Role.objects.create(organization=organization, slug="support", name="Support", permissions=["members:read"])
    owner = client_for(members["owner"].user, organization)
    viewer = client_for(members["viewer"].user, organization)
    url = f"/api/v1/orgs/{organization.id}/roles/{role.id}"

    refused = viewer.put(url, {"name": "Hijacked"}, format="json")
    response = owner.put(url, {"name": "Customer support"}, format="json")

    assert refused.status_code == 403
    assert response.status_code == 200, response.content
    role.refresh_from_db()
    assert role.name == "Customer support"
