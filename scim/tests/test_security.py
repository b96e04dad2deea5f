"""Attacks on SCIM: other orgs' tokens and ids, the owner, escalation, acting on betters, the plan, throttling."""

import pytest
from django.test import Client, override_settings

from accounts.tests.factories import UserFactory
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from permissions.models import Role
from scim.tests.conftest import SCIM_JSON, ScimClient, domain_verify, new_user, plan_set, scim_error, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_b(db):
    organization = OrganizationFactory(name="Beta", slug="beta")
    plan_set(organization, "team")
    domain_verify(organization, "beta.test")
    MembershipFactory(organization=organization, role="owner")
    return organization


@pytest.fixture
def idp_b(org_b):
    return ScimClient(org_b, token_for(MembershipFactory(organization=org_b, role="admin")))


# --- authentication ---------------------------------------------------------------------------


def test_no_token_or_a_wrong_one_is_401_in_scims_format(org, idp):
    anonymous = Client().get(f"/scim/v2/{org.id}/Users")
    wrong = ScimClient(org, idp.secret[:-4] + "AAAA").get("Users")
    garbage = ScimClient(org, "x" * 5000).get("Users")

    for response in (anonymous, wrong, garbage):
        scim_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_of_org_a_on_org_b_path_gets_nothing(idp, org_b, idp_b):
    victim = idp_b.post("Users", new_user("victim@beta.test")).json()

    for response in (
        idp.get("Users", organization=org_b),
        idp.get(f"Users/{victim['id']}", organization=org_b),
        idp.patch(f"Users/{victim['id']}", [{"op": "replace", "value": {"active": False}}], organization=org_b),
        idp.delete(f"Users/{victim['id']}", organization=org_b),
        idp.post("Users", new_user("intruder@acme.test"), organization=org_b),
    ):
        assert "victim" not in response.content.decode()
        scim_error(response, 401)
    assert Membership.objects.get(id=victim["id"]).status == Membership.Status.ACTIVE


def test_a_user_or_group_of_org_b_through_org_a_path_is_404(idp, idp_b):
    victim = idp_b.post("Users", new_user("victim@beta.test")).json()
    group = idp_b.post("Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "B team"}).json()

    for response in (
        idp.get(f"Users/{victim['id']}"),
        idp.patch(f"Users/{victim['id']}", [{"op": "replace", "value": {"active": False}}]),
        idp.put(f"Users/{victim['id']}", new_user("victim@beta.test")),
        idp.delete(f"Users/{victim['id']}"),
        idp.get(f"Groups/{group['id']}"),
        idp.patch(f"Groups/{group['id']}", [{"op": "replace", "path": "displayName", "value": "pwned"}]),
        idp.delete(f"Groups/{group['id']}"),
    ):
        scim_error(response, 404)
    assert idp.get("Users", filter='userName eq "victim@beta.test"').json()["totalResults"] == 0
    assert Membership.objects.get(id=victim["id"]).status == Membership.Status.ACTIVE


def test_a_revoked_token_stops_at_once(idp, org):
    from core.actor import Actor
    from scim import tokens
    from scim.models import ScimToken

    token = ScimToken.objects.get(organization=org)
    tokens.token_revoke(token=token, actor=Actor.for_user(token.created_by), ensure_not_better=lambda membership: None)

    scim_error(idp.get("Users"), 401)


def test_failed_tokens_are_throttled_per_ip(org, idp):
    intruder = ScimClient(org, "scim_AAAAAAAAAAAA_" + "b" * 43)
    with override_settings(REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"scim_auth": "3/min", "scim": "600/min"}}):
        codes = [intruder.get("Users").status_code for _ in range(5)]
        blocked = intruder.get("Users")

    assert codes == [401, 401, 401, 429, 429]
    assert scim_error(blocked, 429)["scimType"] == "tooMany"
    assert int(blocked["Retry-After"]) > 0


def test_requests_are_throttled_per_token(idp):
    with override_settings(REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"scim_auth": "30/min", "scim": "2/min"}}):
        codes = [idp.get("ServiceProviderConfig").status_code for _ in range(3)]

    assert codes == [200, 200, 429]


# --- the plan and the token's holder ------------------------------------------------------------


def test_without_the_sso_plan_feature_scim_is_refused(idp, org):
    plan_set(org, "pro")

    assert "plan" in scim_error(idp.get("Users"), 403)["detail"]


def test_the_token_stops_when_its_holder_leaves_or_is_demoted(idp, org, admin):
    admin.role = "member"
    admin.save()
    from organizations.services import authz_revision_bump

    authz_revision_bump(organization=org)

    scim_error(idp.get("Users"), 403)
    admin.delete()
    scim_error(idp.get("Users"), 403)


# --- invariants (API.md v1.1) -------------------------------------------------------------------


def test_the_owner_is_untouchable(idp, org, owner):
    deactivate = idp.patch(f"Users/{owner.id}", [{"op": "replace", "value": {"active": False}}])
    replace = idp.put(f"Users/{owner.id}", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": owner.user.email, "active": False})
    delete = idp.delete(f"Users/{owner.id}")

    for response in (deactivate, replace, delete):
        scim_error(response, 403)
    owner.refresh_from_db()
    assert owner.status == Membership.Status.ACTIVE and owner.role == "owner"
    # Reading the owner is fine: the IdP matches accounts by userName.
    assert idp.get(f"Users/{owner.id}").status_code == 200


def test_no_escalation_through_the_default_role(org, owner):
    # A member who may manage the org and invite, but holds none of an admin's other powers.
    Role.objects.create(organization=org, slug="it", name="IT", permissions=["org:update", "members:invite", "members:read"])
    holder = MembershipFactory(organization=org, role="it")
    idp = ScimClient(org, token_for(holder))
    org.settings = {"default_role": "admin"}
    org.save()

    scim_error(idp.post("Users", new_user()), 403)

    assert not Membership.objects.filter(organization=org, user__email="bjensen@acme.test").exists()


def test_no_acting_on_a_better(idp, org):
    # Someone holding a permission the admin who issued the token lacks (owner-only org:delete).
    Role.objects.create(organization=org, slug="trustee", name="Trustee", permissions=["org:delete", "org:read"])
    better = MembershipFactory(organization=org, role="trustee", user__email="trustee@acme.test")

    scim_error(idp.patch(f"Users/{better.id}", [{"op": "replace", "value": {"active": False}}]), 403)
    scim_error(idp.delete(f"Users/{better.id}"), 403)

    better.refresh_from_db()
    assert better.status == Membership.Status.ACTIVE


def test_userName_of_an_existing_person_elsewhere_is_not_linked(idp, org_b):
    # A verified account in a domain org A does not own: the IdP's word does not prove that mailbox.
    person = UserFactory(email="someone@beta.test", email_verified_at="2026-01-01T00:00:00Z")
    MembershipFactory(organization=org_b, user=person)

    body = scim_error(idp.post("Users", new_user("someone@beta.test")), 400)

    assert body["scimType"] == "invalidValue"
    assert not Membership.objects.filter(organization=idp.organization, user=person).exists()


# --- protocol ------------------------------------------------------------------------------------


def test_unknown_paths_and_methods_answer_scim_errors(idp, org):
    scim_error(idp.get("Nope"), 404)
    scim_error(idp.get("Users/not-a-uuid"), 404)
    scim_error(idp.send("delete", "Users"), 405)
    scim_error(idp.post("Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []}), 501)
    response = Client().get("/scim/v2/not-an-org/Users")
    assert response.status_code == 404 and response["Content-Type"].startswith(SCIM_JSON)
