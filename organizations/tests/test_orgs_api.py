import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEvent
from conftest import client_for
from organizations.models import Membership, Organization
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def code_of(response) -> str:
    return response.json()["error"]["code"]


def test_create_org_makes_me_owner_with_generated_slug(auth_client, user):
    response = auth_client.post("/api/v1/orgs", {"name": "Acme Rockets"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "acme-rockets" and body["role"] == "owner"
    organization = Organization.objects.get(id=body["id"])
    assert Membership.objects.get(organization=organization, user=user).role == "owner"
    event = AuditEvent.objects.get(action="org.created")
    assert event.organization_id == organization.id and event.actor_id == user.id
    second = auth_client.post("/api/v1/orgs", {"name": "Acme Rockets"}, format="json")
    assert second.json()["slug"] == "acme-rockets-2"


def test_create_org_duplicate_slug_is_conflict(auth_client):
    OrganizationFactory(slug="taken")
    response = auth_client.post("/api/v1/orgs", {"name": "X", "slug": "taken"}, format="json")
    assert response.status_code == 409 and code_of(response) == "CONFLICT"


@pytest.mark.parametrize("slug", ["A B", "-bad", "x", "admin", "a" * 61])
def test_create_org_bad_slug(auth_client, slug):
    response = auth_client.post("/api/v1/orgs", {"name": "X", "slug": slug}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["error"]["details"]
    assert not Organization.objects.exists()


def test_list_my_orgs_with_role_only_active(auth_client, user):
    mine = MembershipFactory(user=user, role="admin").organization
    MembershipFactory(user=user, role="member", status="suspended")
    OrganizationFactory()
    body = auth_client.get("/api/v1/orgs").json()
    assert body["total"] == 1
    assert body["data"][0]["id"] == str(mine.id) and body["data"][0]["role"] == "admin"


def test_list_orgs_query_count_is_constant(auth_client, user, django_assert_max_num_queries):
    for _ in range(25):
        MembershipFactory(user=user)
    with django_assert_max_num_queries(7):
        response = auth_client.get("/api/v1/orgs?limit=100")
    assert response.json()["total"] == 25


def test_register_with_organization_creates_it_in_one_step(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/auth/register",
            {
                "email": "founder@example.com",
                "password": DEFAULT_PASSWORD,
                "full_name": "Fay Founder",
                "organization_name": "Founders Inc",
                "organization_website": "https://founders.example.com",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organization"]["name"] == "Founders Inc" and body["organization"]["role"] == "owner"
    claims = AccessToken(body["access_token"])
    assert claims["org_id"] == body["organization"]["id"] and claims["role"] == "owner"
    organization = Organization.objects.get()
    assert organization.website == "https://founders.example.com"


def test_register_with_bad_org_website_writes_nothing(api_client):
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": "f@example.com", "password": DEFAULT_PASSWORD, "full_name": "F", "organization_name": "Org", "organization_website": "nope"},
        format="json",
    )
    assert response.status_code == 400
    assert not Organization.objects.exists()
    from accounts.models import User

    assert not User.objects.exists()


def test_setup_organization_then_me(auth_client, user):
    me = auth_client.get("/api/v1/users/me").json()
    assert me["needs_org_setup"] is True
    response = auth_client.post("/api/v1/auth/setup-organization", {"organization_name": "Setup Co", "company_size": "1-10"}, format="json")
    assert response.status_code == 201, response.content
    tokens = response.json()
    assert AccessToken(tokens["access_token"])["org_id"] == tokens["organization"]["id"]
    auth_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    me = auth_client.get("/api/v1/users/me").json()
    assert me["needs_org_setup"] is False and me["role"] == "owner"
    again = auth_client.post("/api/v1/auth/setup-organization", {"organization_name": "Second"}, format="json")
    assert again.status_code == 409


def test_switch_org_requires_active_membership(user):
    first = MembershipFactory(user=user, role="owner").organization
    second = MembershipFactory(user=user, role="viewer").organization
    foreign = OrganizationFactory()
    client = client_for(user, first)
    assert AccessToken(client.tokens["access_token"])["org_id"] == str(first.id)
    response = client.post("/api/v1/auth/switch-org", {"organization_id": str(second.id)}, format="json")
    assert response.status_code == 200
    claims = AccessToken(response.json()["access_token"])
    assert claims["org_id"] == str(second.id) and claims["role"] == "viewer"
    refused = client.post("/api/v1/auth/switch-org", {"organization_id": str(foreign.id)}, format="json")
    assert refused.status_code == 403 and code_of(refused) == "INVALID_ORG_CONTEXT"


def test_login_with_organization_id_sets_active_org(user):
    organization = MembershipFactory(user=user, role="member").organization
    client = client_for(user, organization)
    assert AccessToken(client.tokens["access_token"])["role"] == "member"
    assert client.tokens["organization"]["id"] == str(organization.id)


def test_delete_me_blocked_while_owning_an_org_with_members(auth_client, user):
    organization = MembershipFactory(user=user, role="owner").organization
    MembershipFactory(organization=organization)
    response = auth_client.delete("/api/v1/users/me", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 409


def test_delete_me_removes_orgs_i_own_alone(auth_client, user):
    organization = MembershipFactory(user=user, role="owner").organization
    response = auth_client.delete("/api/v1/users/me", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204
    assert not Organization.objects.filter(id=organization.id).exists()


def test_export_lists_memberships(auth_client, user):
    MembershipFactory(user=user, role="admin", title="CTO")
    body = auth_client.get("/api/v1/users/me/export").json()
    assert body["memberships"][0]["role"] == "admin" and body["memberships"][0]["title"] == "CTO"


def test_new_login_starts_in_first_org(user):
    organization = MembershipFactory(user=user, role="member").organization
    client = client_for(user)
    assert AccessToken(client.tokens["access_token"])["org_id"] == str(organization.id)
    other = UserFactory()
    assert AccessToken(client_for(other).tokens["access_token"])["org_id"] is None
