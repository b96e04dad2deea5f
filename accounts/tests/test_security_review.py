"""Review of the issue-13 fix, written as attacks: each test fails while the hole is open."""

import re

import pytest
from allauth.socialaccount.models import SocialAccount
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import UntypedToken

from accounts.models import User
from accounts.tests.fake_google import GoogleAccount
from accounts.tests.test_oauth_google import (  # noqa: F401 (fixtures)
    LINK,
    google,
    google_server,
    local,
    round_trip,
)
from accounts.tests.test_security_identity import _unlimited_plan, bearer  # noqa: F401 (autouse fixture)
from audit.models import AuditEvent
from conftest import login_tokens
from core import clock
from core.actor import Actor, Principal

pytestmark = pytest.mark.django_db

VICTIM_EMAIL = "ceo@victim.example"
SQUATTER_PASSWORD = "Squatter-passphrase-1"


def test_a_google_identity_linked_by_a_squatter_does_not_survive_the_mailbox_owner_reclaiming_the_account(
    google, round_trip, mailoutbox, django_capture_on_commit_callbacks
):
    """Pre-account takeover. The attacker registers ceo@victim.example (unverified), links *their own*
    Google account to it, and waits. The real owner later runs "forgot password": the mailed token
    verifies the address and revokes the sessions, but the attacker's linked Google identity stays,
    so the attacker signs in with Google into the now verified account the victim uses (and into every
    org that auto-joins victim.example on verification)."""
    # the squatter: register the victim's address, link own Google account from that session
    with django_capture_on_commit_callbacks(execute=True):
        registered = APIClient().post(
            "/api/v1/auth/register",
            {"email": VICTIM_EMAIL, "password": SQUATTER_PASSWORD, "full_name": "Not The CEO"},
            format="json",
        )
    assert registered.status_code in (200, 201), registered.content
    squatter = bearer(login_tokens(APIClient(), VICTIM_EMAIL, SQUATTER_PASSWORD)["access_token"])
    google.sign_in(GoogleAccount(email="mallory@attacker.example", email_verified=True))
    # Linking from an unproved address is refused outright...
    refused = squatter.get(LINK)
    assert refused.status_code == 403, refused.content
    # ...and an identity linked before that rule (or by any other way) is what the reclaim must drop.
    account = User.objects.get(email=VICTIM_EMAIL)
    account.email_verified_at = clock.now()
    account.save(update_fields=["email_verified_at"])
    link = squatter.get(LINK)
    assert link.status_code == 200, link.content
    assert round_trip(browser=squatter, start=local(link.json()["redirect_url"])) == {"linked": "google"}
    User.objects.filter(id=account.id).update(email_verified_at=None)

    # the real owner reclaims the address through the mailbox
    owner = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        owner.post("/api/v1/auth/password/reset-request", {"email": VICTIM_EMAIL}, format="json")
    secret = re.search(r"token=([A-Za-z0-9_\-]+)", mailoutbox[-1].body).group(1)
    done = owner.post("/api/v1/auth/password/reset", {"token": secret, "new_password": "The-real-0wner-passphrase"}, format="json")
    assert done.status_code == 204, done.content
    account = User.objects.get(email=VICTIM_EMAIL)
    assert account.email_verified_at is not None

    # the attacker signs in with their own Google account
    fragment = round_trip()

    # then: the attacker must not land in the account the mailbox owner just proved and reclaimed
    if "access_token" in fragment:  # a fresh account of the attacker's own Google address is fine
        claims = UntypedToken(fragment["access_token"])
        assert str(account.id) not in (str(claims.get("sub")), str(claims.get("user_id"))), "the squatter's Google identity still opens the reclaimed account"
    assert not SocialAccount.objects.filter(user=account).exists()
    assert AuditEvent.objects.filter(action="user.identities_unlinked", target_id=str(account.id)).exists()


def test_an_impersonation_token_cannot_hand_the_org_to_someone_else(django_capture_on_commit_callbacks):
    """Impersonation is read-and-act, never persist (invariant 5): yet `orgs:transfer-ownership` is on the
    allow-list. Staff impersonating an owner (for a support ticket) make an accomplice member the owner;
    the real owner is demoted to admin and can no longer get the org back. Invites are refused to an
    impersonation token because they would let staff bring someone in; ownership is a bigger gift."""
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.sessions import session_create
    from accounts.staff import impersonation_start
    from accounts.tests.factories import UserFactory
    from organizations.models import Membership
    from organizations.tests.factories import MembershipFactory, OrganizationFactory

    staff = UserFactory(is_staff=True)
    owner = UserFactory()
    accomplice = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=owner, role="owner")
    MembershipFactory(organization=organization, user=accomplice, role="viewer")
    staff_pair = session_create(user=staff, actor=Actor.for_user(staff), mfa_verified=True)
    staff_actor = Actor(principal=Principal.from_claims(staff, AccessToken(staff_pair.access_token).payload))
    _, pair = impersonation_start(actor=staff_actor, user_id=owner.id, reason="ticket 1")

    with django_capture_on_commit_callbacks(execute=True):
        response = bearer(pair.access_token).post(f"/api/v1/orgs/{organization.id}/transfer-ownership", {"user_id": str(accomplice.id)}, format="json")

    assert response.status_code == 403, "an impersonation token transferred the org's ownership"
    assert Membership.objects.get(organization=organization, user=owner).role == "owner"
