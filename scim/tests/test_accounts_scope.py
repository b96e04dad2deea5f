"""Which accounts SCIM may create or add: accounts are global, so an org's IdP speaks only for its verified domains."""

import pytest
from django.contrib.auth import get_user_model

from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from core import clock
from organizations.models import Domain, Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from scim.models import ScimUser
from scim.tests.conftest import USER, domain_verify, new_user, scim_error

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def rival(db):
    """Another company, owning the verified domain rival.test, with a verified employee."""
    organization = OrganizationFactory(name="Rival", slug="rival")
    domain_verify(organization, "rival.test")
    employee = UserFactory(email="cto@rival.test", email_verified_at=clock.now())
    MembershipFactory(organization=organization, user=employee, role="admin")
    return organization


# --- addresses outside the org's verified domains: 400 invalidValue, nothing created -------------------


@pytest.mark.parametrize("address", ["victim@gmail.com", "newhire@rival.test", "someone@sub.acme.test", "someone@acme.test.evil.example"])
def test_an_address_outside_the_verified_domains_is_not_minted(idp, org, rival, address):
    # given an IdP of Acme (verified domain: acme.test) naming someone else's address
    # when it provisions that address
    response = idp.post("Users", new_user(address))

    # then it is refused with the reason, and no platform account squats the address
    body = scim_error(response, 400)
    assert body["scimType"] == "invalidValue"
    assert "verified domains (acme.test)" in body["detail"]
    assert not User.objects.filter(email__iexact=address).exists()
    assert not AuditEvent.objects.filter(organization_id=org.id, action__in=["user.created", "member.added"]).exists()


def test_the_real_person_can_still_register_after_a_refused_squat(idp, client):
    # given Acme's IdP tried to pre-create an account for a gmail address
    scim_error(idp.post("Users", new_user("victim@gmail.com")), 400)

    # when the owner of that mailbox signs up
    registration = {"email": "victim@gmail.com", "password": "Correct-horse-battery-9", "full_name": "Vic Tim"}
    response = client.post("/api/v1/auth/register", registration, content_type="application/json")

    # then the address is free: no "already exists"
    assert response.status_code == 201, response.content
    assert User.objects.filter(email="victim@gmail.com").count() == 1


def test_an_existing_account_of_another_company_is_not_enrolled(idp, org, rival):
    # given a verified employee of Rival (rival.test is Rival's verified domain)
    employee = User.objects.get(email="cto@rival.test")

    # when Acme's IdP provisions them
    response = idp.post("Users", new_user("CTO@rival.test"))

    # then refused like any address outside Acme's domains: it does not even tell the account exists
    body = scim_error(response, 400)
    assert body["scimType"] == "invalidValue"
    assert body["detail"] == scim_error(idp.post("Users", new_user("nobody@rival.test", externalId="x")), 400)["detail"]
    assert not Membership.objects.filter(organization=org, user=employee).exists()
    assert list(Membership.objects.filter(user=employee).values_list("organization_id", flat=True)) == [rival.id]


def test_an_unverified_domain_claim_does_not_count(idp, org):
    # given Acme only claimed (did not verify) gmail.com
    Domain.objects.create(organization=org, domain="gmail.com", verification_token="t", verified_at=None)

    # when its IdP provisions a gmail address
    body = scim_error(idp.post("Users", new_user("victim@gmail.com")), 400)

    # then refused
    assert body["scimType"] == "invalidValue"
    assert not User.objects.filter(email="victim@gmail.com").exists()


def test_an_org_with_no_verified_domain_provisions_nobody(idp, org):
    # given Acme has no verified domain any more
    Domain.objects.filter(organization=org).delete()

    # when its IdP provisions an address at its old domain
    body = scim_error(idp.post("Users", new_user()), 400)

    # then refused, telling the admin to verify a domain first
    assert body["scimType"] == "invalidValue"
    assert "once it has verified a domain" in body["detail"]
    assert not User.objects.filter(email="bjensen@acme.test").exists()


# --- addresses at a verified domain ----------------------------------------------------------------------


def test_a_new_address_at_a_verified_domain_creates_the_account_and_the_membership(idp, org):
    # when Acme's IdP provisions a new address at acme.test (in any case)
    response = idp.post("Users", new_user("BJensen@Acme.Test"))

    # then an account with no usable password and an unverified e-mail, and a member with the default role
    assert response.status_code == 201, response.content
    membership = Membership.objects.get(id=response.json()["id"])
    assert membership.organization_id == org.id and membership.role == "member"
    assert membership.user.email == "bjensen@acme.test"
    assert not membership.user.has_usable_password()
    assert membership.user.email_verified is False
    assert ScimUser.objects.get(membership=membership).created_user is True
    events = AuditEvent.objects.filter(organization_id=org.id, actor_type="scim").order_by("sequence")
    assert [event.action for event in events] == ["user.created", "member.added"]


def test_a_second_verified_domain_counts_too(idp, org):
    # given Acme also verified acme-labs.test
    domain_verify(org, "acme-labs.test")

    # when its IdP provisions an address there
    response = idp.post("Users", new_user("lab@acme-labs.test"))

    # then it is created
    assert response.status_code == 201, response.content


def test_an_existing_verified_account_at_a_verified_domain_joins(idp, org):
    # given an account at acme.test that proved its mailbox
    person = UserFactory(email="dev@acme.test", email_verified_at=clock.now())

    # when Acme's IdP provisions it
    response = idp.post("Users", new_user("dev@acme.test"))

    # then it joins, the same account (no second one), audited as SCIM
    assert response.status_code == 201, response.content
    membership = Membership.objects.get(id=response.json()["id"])
    assert membership.user_id == person.id
    assert User.objects.filter(email__iexact="dev@acme.test").count() == 1
    assert ScimUser.objects.get(membership=membership).created_user is False
    assert AuditEvent.objects.filter(organization_id=org.id, action="member.added", actor_type="scim").exists()
    assert not AuditEvent.objects.filter(organization_id=org.id, action="user.created").exists()


def test_an_existing_account_with_an_unverified_email_is_refused(idp, org):
    # given someone registered ceo@acme.test without proving the mailbox
    squatter = UserFactory(email="ceo@acme.test", email_verified_at=None)

    # when Acme's IdP provisions the real CEO
    response = idp.post("Users", new_user("ceo@acme.test"))

    # then refused: the squatter must not get Acme's membership
    body = scim_error(response, 409)
    assert body["scimType"] == "uniqueness"
    assert "has not verified its e-mail" in body["detail"]
    assert not Membership.objects.filter(organization=org, user=squatter).exists()
    squatter.refresh_from_db()
    assert squatter.email_verified is False


def test_a_deactivated_account_is_refused(idp, org):
    # given a deactivated account with a verified address at acme.test
    gone = UserFactory(email="gone@acme.test", email_verified_at=clock.now(), is_active=False)

    # when Acme's IdP provisions it, then refused
    assert scim_error(idp.post("Users", new_user("gone@acme.test")), 409)["scimType"] == "uniqueness"
    assert not Membership.objects.filter(organization=org, user=gone).exists()


def test_allowed_email_domains_still_apply_inside_verified_domains(idp, org):
    # given Acme verified two domains but admits only acme.test
    domain_verify(org, "acme-old.test")
    org.settings = {"allowed_email_domains": ["acme.test"]}
    org.save()

    # when its IdP provisions an address at the other verified domain
    body = scim_error(idp.post("Users", new_user("someone@acme-old.test")), 400)

    # then refused by the setting, and nothing is created
    assert body["scimType"] == "invalidValue"
    assert "only admits addresses at: acme.test" in body["detail"]
    assert not User.objects.filter(email="someone@acme-old.test").exists()


def test_a_member_added_otherwise_at_another_domain_is_still_a_uniqueness_conflict(idp, org):
    # given a member Acme invited at a gmail address (not via SCIM)
    MembershipFactory(organization=org, user__email="contractor@gmail.com")

    # when the IdP posts it again, then it is told the member exists (idempotency), nothing changes
    body = scim_error(idp.post("Users", new_user("contractor@gmail.com")), 409)
    assert body["scimType"] == "uniqueness"
    assert Membership.objects.filter(organization=org, user__email="contractor@gmail.com").count() == 1


# --- SCIM never changes an account's e-mail --------------------------------------------------------------


def test_patch_cannot_move_a_linked_member_to_another_address(idp):
    # given a provisioned member
    created = idp.post("Users", new_user()).json()

    # when the IdP patches the userName to another address, with a path or a value object
    by_path = idp.patch(f"Users/{created['id']}", [{"op": "replace", "path": "userName", "value": "victim@gmail.com"}])
    by_value = idp.patch(f"Users/{created['id']}", [{"op": "replace", "value": {"userName": "cto@rival.test"}}])

    # then refused, and the account keeps its e-mail
    for response in (by_path, by_value):
        assert scim_error(response, 400)["scimType"] == "mutability"
    assert Membership.objects.get(id=created["id"]).user.email == "bjensen@acme.test"


def test_emails_in_a_patch_or_put_are_not_applied_to_the_account(idp):
    # given a provisioned member
    created = idp.post("Users", new_user()).json()

    # when the IdP sends other addresses as `emails`
    other = [{"value": "victim@gmail.com", "primary": True}]
    patched = idp.patch(f"Users/{created['id']}", [{"op": "replace", "path": "emails", "value": other}])
    replaced = idp.put(f"Users/{created['id']}", {"schemas": [USER], "userName": "bjensen@acme.test", "emails": other})

    # then the account's one address stays its userName
    assert patched.status_code == 200, patched.content
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["emails"] == [{"value": "bjensen@acme.test", "type": "work", "primary": True}]
    assert Membership.objects.get(id=created["id"]).user.email == "bjensen@acme.test"
    assert not User.objects.filter(email="victim@gmail.com").exists()
