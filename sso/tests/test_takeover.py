"""Who an org's IdP may sign in: its own people, never above whoever chose it (API.md v1.1 invariants 2 and 3).

An org admin can point an SSO connection at an IdP they run themselves and assert any address at
the org's verified domains. These are the attacks that would give them: the org's owner, a member
promoted above them since, the staff, or someone's membership of another org.
"""

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core.cache import cache
from django.test import Client

from accounts.models import User, UserSession
from accounts.tests.factories import UserFactory
from accounts.tests.soft_authenticator import SoftAuthenticator
from accounts.tests.test_passkeys import ORIGIN, passkey_sign_in, register, relying_party  # noqa: F401  (the RP settings)
from audit.models import AuditEvent
from conftest import client_for
from core import clock
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from permissions import engine
from permissions.models import Role
from sso.models import SSOConnection
from sso.tests.conftest import frontend_fragment
from sso.tests.test_enforce import PASSWORD, password_login
from sso.tests.test_oidc import Browser, access_claims, oidc_connection_create, sign_in, sso_client

pytestmark = pytest.mark.django_db(transaction=False)

NOT_COVERED = {"error": "sso_account_not_covered"}


def verified(user) -> User:
    user.email_verified_at = clock.now()
    user.save(update_fields=["email_verified_at"])
    return user


@pytest.fixture
def admins_idp(corp, corp_admin, oidc_peer) -> dict:
    """A connection an admin (not the owner) set up: the IdP is theirs, it asserts whatever they like."""
    return oidc_connection_create(corp_admin, corp, oidc_peer)


def sso_as(email: str) -> dict:
    return frontend_fragment(sign_in(Browser(), email, email=email))


# --- the attacks ---------------------------------------------------------------------------------


def test_an_admins_idp_cannot_sign_in_as_the_owner(corp, admins_idp):
    # given the owner's verified address at the org's domain, and an IdP the admin chose
    owner = verified(corp.owner)
    assert admins_idp["trusted_permissions"] != ["*"]

    # when the admin's IdP asserts the owner's address
    fragment = sso_as(owner.email)

    # then nothing: no link, no session for the owner
    assert fragment == NOT_COVERED
    assert not SocialAccount.objects.filter(user=owner).exists()
    assert not UserSession.objects.filter(user=owner).exists()


def test_an_idp_the_owner_chose_signs_the_owner_in(corp, oidc_peer):
    owner = verified(corp.owner)
    connection = oidc_connection_create(client_for(owner, corp), corp, oidc_peer)
    assert connection["trusted_permissions"] == ["*"]

    claims = access_claims(sso_as(owner.email))

    assert claims["sub"] == str(owner.id) and claims["amr"] == ["sso"]


def test_a_member_promoted_above_the_idps_chooser_is_refused_at_the_next_sign_in(corp, admins_idp):
    # given a member who signed in through the admin's IdP (linked)
    member = MembershipFactory(organization=corp, role="member", user__email="rise@corp.test", user__email_verified_at=clock.now())
    assert "access_token" in sso_as(member.user.email)

    # when the owner later gives them a role with billing:manage, which the admin who chose the IdP lacks
    assert "billing:manage" not in SSOConnection.objects.get(id=admins_idp["id"]).trusted_permissions
    Role.objects.create(organization=corp, slug="finance", name="Finance", permissions=["billing:manage", "org:read"])
    engine.organization_policies(corp, fresh=True)
    Membership.objects.filter(id=member.id).update(role="finance")
    cache.clear()

    # then the linked identity no longer signs them in
    assert sso_as(member.user.email) == NOT_COVERED


def test_a_member_of_another_org_is_not_this_idps_to_sign_in(corp, admins_idp):
    # given a verified user at corp.test who owns another org (and is not in corp)
    victim = UserFactory(email="founder@corp.test", email_verified_at=clock.now())
    other = OrganizationFactory(name="Side project")
    MembershipFactory(organization=other, user=victim, role="owner")

    # when corp's IdP asserts their address
    fragment = sso_as(victim.email)

    # then it is refused: no link, no membership in corp, no session into the other org
    assert fragment == NOT_COVERED
    assert not SocialAccount.objects.filter(user=victim).exists()
    assert not Membership.objects.filter(organization=corp, user=victim).exists()
    assert not UserSession.objects.filter(user=victim).exists()


def test_a_linked_member_who_joins_another_org_is_refused_from_then_on(corp, admins_idp):
    member = MembershipFactory(organization=corp, role="member", user__email="later@corp.test", user__email_verified_at=clock.now()).user
    assert "access_token" in sso_as(member.email)
    MembershipFactory(organization=OrganizationFactory(name="Elsewhere"), user=member, role="owner")

    assert sso_as(member.email) == NOT_COVERED


def test_staff_are_never_signed_in_by_an_orgs_idp(corp, admins_idp):
    staff = UserFactory(email="ops@corp.test", email_verified_at=clock.now(), is_staff=True)

    assert sso_as(staff.email) == NOT_COVERED
    assert not SocialAccount.objects.filter(user=staff).exists()


def test_a_newcomer_whose_default_role_brings_more_than_the_trust_is_refused(corp, admins_idp):
    # given the owner made "owner-like" newcomers impossible but a trust narrower than the default role
    SSOConnection.objects.filter(id=admins_idp["id"]).update(trusted_permissions=["org:read"])

    assert sso_as("fresh@corp.test") == NOT_COVERED
    assert not User.objects.filter(email="fresh@corp.test").exists()


def test_the_address_is_matched_whatever_its_case(corp, admins_idp):
    member = MembershipFactory(organization=corp, role="member", user__email="casey@corp.test", user__email_verified_at=clock.now()).user

    claims = access_claims(sso_as("Casey@corp.test"))

    assert claims["sub"] == str(member.id)
    assert User.objects.filter(email__iexact="casey@corp.test").count() == 1


# --- accounts the org let in without a proven mailbox ----------------------------------------------


def test_an_unverified_account_the_org_let_in_is_claimed_by_the_idp_and_loses_its_password(corp, admins_idp):
    # given an account made by accepting an invitation (never verified), with a password and a session
    user = UserFactory(email="invited@corp.test", email_verified_at=None)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(organization=corp, user=user, role="member")
    assert password_login(user.email).status_code == 200

    # when the org's IdP signs that address in
    claims = access_claims(sso_as(user.email))

    # then the IdP's identity is linked, the unproven password is gone and its sessions ended
    user.refresh_from_db()
    assert claims["sub"] == str(user.id)
    assert not user.has_usable_password()
    assert UserSession.objects.filter(user=user, auth_method="password", revoked_at__isnull=True).count() == 0
    assert AuditEvent.objects.filter(action="user.password_removed", target_id=str(user.id)).exists()


def test_an_unverified_stranger_account_is_still_not_linked(corp, admins_idp):
    # given someone registered the address without proving the mailbox (no tie to the org)
    squatter = UserFactory(email="victim@corp.test", email_verified_at=None)

    assert sso_as(squatter.email) == {"error": "account_exists"}
    assert not SocialAccount.objects.filter(user=squatter).exists()


# --- enforce: every other way in is closed, for the accounts the IdP may sign in --------------------


@pytest.fixture
def enforced(corp, corp_admin, oidc_peer) -> dict:
    return oidc_connection_create(corp_admin, corp, oidc_peer, enforce=True)


def test_enforce_spares_accounts_the_idp_may_not_sign_in(corp, enforced):
    # the owner (break-glass, and above the admin's trust), a member of another org, staff
    owner = corp.owner
    owner.set_password(PASSWORD)
    owner.save()
    elsewhere = UserFactory(email="two-hats@corp.test", email_verified_at=clock.now())
    elsewhere.set_password(PASSWORD)
    elsewhere.save()
    MembershipFactory(organization=corp, user=elsewhere, role="member")
    MembershipFactory(organization=OrganizationFactory(name="Other"), user=elsewhere, role="member")

    assert password_login(owner.email).status_code == 200
    assert password_login(elsewhere.email).status_code == 200


def test_enforce_refuses_passwordless_passkey_sign_in(corp, enforced):
    # given a covered member who registered a passkey before SSO was enforced
    member = MembershipFactory(organization=corp, role="member", user__email="keys@corp.test", user__email_verified_at=clock.now()).user
    member.set_password(PASSWORD)
    member.save()
    SSOConnection.objects.filter(id=enforced["id"]).update(enforce=False)
    client = client_for(member, corp)
    authenticator = SoftAuthenticator(origin=ORIGIN)
    register(client, authenticator, name="Laptop")
    SSOConnection.objects.filter(id=enforced["id"]).update(enforce=True)

    # when they sign in with the passkey alone
    response = passkey_sign_in(authenticator)

    # then the org's IdP is the only way in
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "SSO_REQUIRED"
    assert not UserSession.objects.filter(user=member, auth_method="passkey").exists()


def test_enforce_accepting_an_invitation_makes_the_account_but_signs_in_through_the_idp(corp, enforced):
    # given an invitation to a covered address (from the admin's session through the IdP)
    created = sso_client(corp.admin.email).post(f"/api/v1/orgs/{corp.id}/invites", {"email": "joiner@corp.test", "role": "member"}, format="json")
    assert created.status_code == 201, created.content

    # when the invitee accepts it anonymously (making their account)
    response = Client().post(
        f"/api/v1/invites/{created.json()['code']}/accept", {"full_name": "Jo Iner", "password": PASSWORD}, content_type="application/json"
    )

    # then they join, but no session opens here: the org's IdP signs them in
    assert response.status_code in (200, 201), response.content
    assert "access_token" not in response.json()
    joiner = User.objects.get(email="joiner@corp.test")
    assert Membership.objects.filter(organization=corp, user=joiner).exists()
    assert not UserSession.objects.filter(user=joiner).exists()
    assert password_login(joiner.email).json()["error"]["code"] == "SSO_REQUIRED"
    # ... and the IdP does, claiming the account the org let in (its unproven password goes)
    assert access_claims(sso_as(joiner.email))["sub"] == str(joiner.id)
