"""SCIM Users ↔ memberships: RFC 7644's request examples in our domain, Okta's and Entra ID's PATCH shapes."""

import pytest
from django.contrib.auth import get_user_model

from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from core import clock
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory
from scim.models import ScimUser
from scim.tests.conftest import LIST, SCIM_JSON, USER, new_user, scim_error

pytestmark = pytest.mark.django_db
User = get_user_model()


def _create(idp, email="bjensen@acme.test", **fields):
    response = idp.post("Users", new_user(email, **fields))
    assert response.status_code == 201, response.content
    return response.json()


# --- create (RFC 7644 §3.3) ------------------------------------------------------------------------


def test_create_adds_a_member_with_a_new_account_and_the_default_role(idp, org):
    # when
    response = idp.post("Users", new_user())

    # then
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith(SCIM_JSON)
    body = response.json()
    assert response["Location"] == body["meta"]["location"] == f"http://testserver/scim/v2/{org.id}/Users/{body['id']}"
    assert body["schemas"] == [USER]
    assert body["userName"] == "bjensen@acme.test"
    assert body["externalId"] == "bjensen"
    assert body["active"] is True
    assert body["name"] == {"formatted": "Barbara Jensen", "givenName": "Barbara", "familyName": "Jensen"}
    assert body["emails"] == [{"value": "bjensen@acme.test", "type": "work", "primary": True}]
    assert body["meta"]["resourceType"] == "User"
    membership = Membership.objects.get(id=body["id"])
    assert membership.organization_id == org.id and membership.role == "member"
    user = membership.user
    # No usable password, and the address is not verified by us: the person proves the mailbox.
    assert not user.has_usable_password()
    assert user.email_verified is False
    assert ScimUser.objects.get(membership=membership).created_user is True


def test_create_uses_the_org_default_role(idp, org):
    org.settings = {"default_role": "viewer"}
    org.save()

    body = _create(idp)

    assert Membership.objects.get(id=body["id"]).role == "viewer"


def test_create_ignores_a_role_the_body_asks_for(idp):
    body = _create(idp, roles=[{"value": "owner", "primary": True}], userType="admin")

    assert Membership.objects.get(id=body["id"]).role == "member"


def test_every_change_is_audited_with_actor_type_scim(idp, org):
    body = _create(idp)
    token = idp.secret

    events = AuditEvent.objects.filter(organization_id=org.id, actor_type="scim").order_by("sequence")
    assert [event.action for event in events] == ["user.created", "member.added"]
    from scim.models import ScimToken

    assert {event.actor_id for event in events} == {ScimToken.objects.get(organization=org).id}
    assert all(token not in str(event.changes) for event in events)
    assert events[1].target_id == str(Membership.objects.get(id=body["id"]).user_id)


def test_an_existing_account_outside_the_verified_domains_is_refused(idp, org):
    stranger = UserFactory(email="bob@gmail.example", email_verified_at=clock.now())

    response = idp.post("Users", new_user("bob@gmail.example"))

    body = scim_error(response, 400)
    assert body["scimType"] == "invalidValue"
    assert not Membership.objects.filter(organization=org, user=stranger).exists()


def test_an_existing_unverified_account_in_a_verified_domain_is_refused(idp, org):
    squatter = UserFactory(email="ceo@acme.test", email_verified_at=None)

    scim_error(idp.post("Users", new_user("CEO@acme.test")), 409)

    assert not Membership.objects.filter(organization=org, user=squatter).exists()


def test_an_existing_verified_account_in_a_verified_domain_joins(idp, org):
    person = UserFactory(email="dev@acme.test", email_verified_at=clock.now(), first_name="Dev", last_name="Eloper")

    body = _create(idp, "Dev@Acme.test")

    membership = Membership.objects.get(id=body["id"])
    assert membership.user_id == person.id
    assert ScimUser.objects.get(membership=membership).created_user is False
    person.refresh_from_db()
    # Not this org's account: the IdP's name does not overwrite the person's.
    assert (person.first_name, person.last_name) == ("Dev", "Eloper")


def test_a_second_create_of_the_same_userName_is_a_uniqueness_error(idp):
    _create(idp)

    assert scim_error(idp.post("Users", new_user(externalId="other")), 409)["scimType"] == "uniqueness"


def test_a_duplicate_externalId_is_a_uniqueness_error(idp):
    _create(idp)

    assert scim_error(idp.post("Users", new_user("other@acme.test")), 409)["scimType"] == "uniqueness"


def test_allowed_email_domains_apply(idp, org):
    org.settings = {"allowed_email_domains": ["acme.test"]}
    org.save()

    body = scim_error(idp.post("Users", new_user("someone@elsewhere.example")), 400)

    assert body["scimType"] == "invalidValue"
    assert not User.objects.filter(email="someone@elsewhere.example").exists()


@pytest.mark.parametrize(
    "payload,scim_type",
    [
        ({"userName": "a@acme.test"}, "invalidSyntax"),  # no schemas
        ({"schemas": [USER]}, "invalidValue"),  # no userName
        ({"schemas": [USER], "userName": "not-an-email"}, "invalidValue"),
        ({"schemas": [USER], "userName": 5}, "invalidValue"),
        ({"schemas": [USER], "userName": "a@acme.test", "active": "maybe"}, "invalidValue"),
        ({"schemas": [USER], "userName": "a@acme.test", "name": "Barbara"}, "invalidValue"),
        ([1, 2], "invalidSyntax"),
    ],
)
def test_bad_bodies_are_scim_400s(idp, payload, scim_type):
    assert scim_error(idp.post("Users", payload), 400)["scimType"] == scim_type


def test_a_body_that_is_not_json_is_a_scim_400(idp):
    response = idp.client.post(idp.url("Users"), data="{not json", content_type=SCIM_JSON, HTTP_AUTHORIZATION=f"Bearer {idp.secret}")

    assert scim_error(response, 400)["scimType"] == "invalidSyntax"


def test_created_inactive_is_a_suspended_member(idp):
    body = _create(idp, active=False)

    assert body["active"] is False
    assert Membership.objects.get(id=body["id"]).status == Membership.Status.SUSPENDED


# --- read, filter, paginate (RFC 7644 §3.4) --------------------------------------------------------


def test_get_one_user(idp):
    created = _create(idp)

    response = idp.get(f"Users/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


def test_filter_userName_eq_is_case_insensitive(idp, org):
    _create(idp)
    _create(idp, "other@acme.test", externalId="other")

    body = idp.get("Users", filter='userName eq "BJensen@acme.test"').json()

    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 1
    assert [item["userName"] for item in body["Resources"]] == ["bjensen@acme.test"]


def test_filter_externalId_eq_is_case_exact(idp):
    _create(idp)

    assert idp.get("Users", filter='externalId eq "bjensen"').json()["totalResults"] == 1
    assert idp.get("Users", filter='externalId eq "BJENSEN"').json()["totalResults"] == 0


def test_filter_with_no_match_is_an_empty_list(idp):
    body = idp.get("Users", filter='userName eq "nobody@acme.test"').json()

    assert body == {"schemas": [LIST], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}


def test_filters_combine_and_compare(idp):
    _create(idp)
    _create(idp, "barbara@acme.test", externalId="b2", active=False)

    assert idp.get("Users", filter='userName sw "b" and active eq true').json()["totalResults"] == 1
    assert idp.get("Users", filter='name.familyName eq "Jensen" and not (active eq true)').json()["totalResults"] == 1
    assert idp.get("Users", filter='externalId pr or userName co "owner"').json()["totalResults"] == 3


@pytest.mark.parametrize(
    "expression",
    ['password eq "x"', "userName eq", 'userName xx "a"', 'emails[type eq "work"].value eq "a"', 'urn:other:schema:userName eq "a"', "active eq maybe"],
)
def test_an_unsupported_or_broken_filter_is_invalidFilter(idp, expression):
    assert scim_error(idp.get("Users", filter=expression), 400)["scimType"] == "invalidFilter"


def test_pagination_with_startIndex_and_count(idp, org):
    for n in range(5):
        _create(idp, f"user{n}@acme.test", externalId=f"u{n}")

    body = idp.get("Users", startIndex=3, count=2).json()

    # 5 provisioned + the owner + the admin who issued the token.
    assert body["totalResults"] == 7
    assert body["startIndex"] == 3
    assert body["itemsPerPage"] == 2
    everyone = [item["id"] for item in idp.get("Users").json()["Resources"]]
    assert [item["id"] for item in body["Resources"]] == everyone[2:4]
    assert idp.get("Users", count=0).json()["Resources"] == []
    assert idp.get("Users", startIndex=0).json()["startIndex"] == 1
    assert scim_error(idp.get("Users", count="many"), 400)


def test_attributes_and_excludedAttributes_project_the_resource(idp):
    created = _create(idp)

    only = idp.get(f"Users/{created['id']}", attributes="userName").json()
    without = idp.get(f"Users/{created['id']}", excludedAttributes="name,groups").json()

    assert set(only) == {"schemas", "id", "meta", "userName"}
    assert "name" not in without and "groups" not in without and without["userName"] == "bjensen@acme.test"


def test_the_user_list_takes_a_constant_number_of_queries(idp, org, django_assert_max_num_queries):
    from organizations.tests.factories import TeamFactory

    team = TeamFactory(organization=org)
    for _n in range(3):
        team.members.add(MembershipFactory(organization=org).user)
    idp.get("Users")  # warm the token's authority caches

    with django_assert_max_num_queries(14) as few:
        idp.get("Users")
    for _n in range(15):
        team.members.add(MembershipFactory(organization=org).user)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = idp.get("Users")

    assert response.json()["totalResults"] == 20
    assert sum(len(item["groups"]) for item in response.json()["Resources"]) == 18


# --- replace (RFC 7644 §3.5.1) ---------------------------------------------------------------------


def test_put_replaces_the_scim_attributes(idp):
    created = _create(idp, displayName="Babs", title="Tour Guide")

    response = idp.put(
        f"Users/{created['id']}",
        {"schemas": [USER], "userName": "bjensen@acme.test", "externalId": "bjensen-2", "name": {"givenName": "Barb", "familyName": "Jensen"}, "active": True},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["externalId"] == "bjensen-2"
    assert body["name"]["givenName"] == "Barb"
    # Left out of a PUT: cleared.
    assert body["title"] == ""


def test_put_cannot_change_the_userName(idp):
    created = _create(idp)

    body = scim_error(idp.put(f"Users/{created['id']}", {"schemas": [USER], "userName": "someone-else@acme.test"}), 400)

    assert body["scimType"] == "mutability"


# --- PATCH as Okta sends it ------------------------------------------------------------------------


def test_okta_deactivate_suspends_and_reactivate_restores(idp, org):
    created = _create(idp)
    membership = Membership.objects.get(id=created["id"])

    response = idp.patch(f"Users/{created['id']}", [{"op": "replace", "value": {"active": False}}])

    assert response.status_code == 200, response.content
    assert response.json()["active"] is False
    membership.refresh_from_db()
    assert membership.status == Membership.Status.SUSPENDED
    event = AuditEvent.objects.filter(organization_id=org.id, action="member.suspended").get()
    assert event.actor_type == "scim"

    idp.patch(f"Users/{created['id']}", [{"op": "replace", "value": {"active": True}}])

    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE
    assert AuditEvent.objects.filter(organization_id=org.id, action="member.reactivated", actor_type="scim").exists()


def test_okta_profile_push(idp):
    created = _create(idp)

    response = idp.patch(
        f"Users/{created['id']}",
        [{"op": "replace", "value": {"name": {"givenName": "Babs", "familyName": "Jensen"}, "userName": "bjensen@acme.test", "locale": "en-US"}}],
    )

    assert response.status_code == 200, response.content
    assert response.json()["name"]["givenName"] == "Babs"


# --- PATCH as Entra ID sends it --------------------------------------------------------------------


def test_entra_id_disable_with_a_capitalised_op_and_a_string_boolean(idp):
    created = _create(idp)

    response = idp.patch(f"Users/{created['id']}", [{"op": "Replace", "path": "active", "value": "False"}])

    assert response.status_code == 200, response.content
    assert Membership.objects.get(id=created["id"]).status == Membership.Status.SUSPENDED

    idp.patch(f"Users/{created['id']}", [{"op": "Replace", "path": "active", "value": "True"}])

    assert Membership.objects.get(id=created["id"]).status == Membership.Status.ACTIVE


def test_entra_id_attribute_updates(idp):
    created = _create(idp)

    response = idp.patch(
        f"Users/{created['id']}",
        [
            {"op": "Replace", "path": "userName", "value": "bjensen@acme.test"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "bjensen@acme.test"},
            {"op": "Replace", "path": "name.givenName", "value": "Barbara"},
            {"op": "Replace", "path": "name.familyName", "value": "Jensen-Smith"},
            {"op": "Add", "path": "title", "value": "Engineer"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
            {"op": "Replace", "path": "externalId", "value": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"},
        ],
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"]["familyName"] == "Jensen-Smith"
    assert body["title"] == "Engineer"
    assert body["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"


def test_patch_remove_clears_externalId(idp):
    created = _create(idp)

    body = idp.patch(f"Users/{created['id']}", [{"op": "remove", "path": "externalId"}]).json()

    assert "externalId" not in body


@pytest.mark.parametrize(
    "operations",
    [
        [],
        [{"op": "move", "path": "active", "value": True}],
        [{"op": "remove", "path": "active"}],
        [{"op": "replace", "value": "inactive"}],
        [{"op": "replace", "path": "active", "value": "no"}],
        ["replace"],
    ],
)
def test_broken_patches_are_scim_400s(idp, operations):
    created = _create(idp)

    scim_error(idp.patch(f"Users/{created['id']}", operations), 400)

    assert Membership.objects.get(id=created["id"]).status == Membership.Status.ACTIVE


def test_patch_is_all_or_nothing(idp):
    created = _create(idp)

    response = idp.patch(
        f"Users/{created['id']}",
        [{"op": "replace", "path": "externalId", "value": "changed"}, {"op": "replace", "path": "userName", "value": "x@acme.test"}],
    )

    scim_error(response, 400)
    assert ScimUser.objects.get(membership_id=created["id"]).external_id == "bjensen"


# --- delete (RFC 7644 §3.6) ------------------------------------------------------------------------


def test_delete_removes_the_membership_not_the_account(idp, org):
    created = _create(idp)
    user_id = Membership.objects.get(id=created["id"]).user_id

    response = idp.delete(f"Users/{created['id']}")

    assert response.status_code == 204
    assert not Membership.objects.filter(id=created["id"]).exists()
    assert User.objects.filter(id=user_id).exists()
    assert scim_error(idp.get(f"Users/{created['id']}"), 404)
    assert AuditEvent.objects.filter(organization_id=org.id, action="member.removed", actor_type="scim").exists()


# --- existing members -------------------------------------------------------------------------------


def test_members_added_otherwise_are_listed_and_can_be_linked(idp, org):
    member = MembershipFactory(organization=org, user__email="carol@acme.test", user__first_name="Carol")

    found = idp.get("Users", filter='userName eq "carol@acme.test"').json()["Resources"]
    assert [item["id"] for item in found] == [str(member.id)]

    response = idp.patch(
        f"Users/{member.id}", [{"op": "add", "path": "externalId", "value": "carol-okta"}, {"op": "replace", "path": "name.givenName", "value": "Caroline"}]
    )

    assert response.status_code == 200, response.content
    assert response.json()["externalId"] == "carol-okta"
    member.user.refresh_from_db()
    # Not an account this org's SCIM created: the person's name stays theirs.
    assert member.user.first_name == "Carol"
    assert AuditEvent.objects.filter(organization_id=org.id, action="member.scim_updated", actor_type="scim").exists()


@pytest.mark.parametrize(
    "expression,expected",
    [
        # RFC 7644 §3.4.2.2's examples, with our attributes.
        ('userName Eq "bjensen@acme.test"', 1),
        ('name.familyName co "jen"', 1),
        ('userName sw "BJ"', 1),
        ("title pr", 1),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', 3),
        ('meta.lastModified lt "2011-05-13T04:42:34Z"', 0),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj"', 1),
        ('emails co "acme.test" and (emails.value ew ".test" or externalId eq "x")', 3),
        ('not (userName eq "bjensen@acme.test")', 2),
    ],
)
def test_rfc_filter_examples(idp, expression, expected):
    _create(idp, title="Tour Guide")

    response = idp.get("Users", filter=expression)

    assert response.status_code == 200, response.content
    assert response.json()["totalResults"] == expected


def test_rfc_group_patch_examples(idp, org):
    # RFC 7644 §3.5.2.1 (add with $ref and display), §3.5.2.2 (remove by value filter), §3.5.2.3 (replace all).
    from organizations.models import TeamMembership

    users = [_create(idp, f"m{n}@acme.test", externalId=f"m{n}") for n in range(3)]
    group = idp.post("Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides"}).json()
    path = f"Groups/{group['id']}"

    add = idp.patch(path, [{"op": "add", "path": "members", "value": [{"display": "m0", "$ref": users[0]["meta"]["location"], "value": users[0]["id"]}]}])
    remove = idp.patch(path, [{"op": "remove", "path": f'members[value eq "{users[0]["id"]}"]'}])
    replace = idp.patch(path, [{"op": "replace", "path": "members", "value": [{"value": users[1]["id"]}, {"value": users[2]["id"]}]}])

    assert add.status_code == remove.status_code == replace.status_code == 200
    on_team = set(TeamMembership.objects.filter(team_id=group["id"]).values_list("user__memberships__id", flat=True))
    assert {str(value) for value in on_team} == {users[1]["id"], users[2]["id"]}
