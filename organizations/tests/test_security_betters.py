"""Acting on betters (issue 13, finding 7): demote, suspend, reactivate or remove only a member who holds nothing you do not.

Each test is written as the attack: it failed on main before the fix.
"""

import pytest
from django.test import RequestFactory

from core import authz
from organizations.context import OrgContext
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory
from permissions.drf import PermissionDeniedWithCode, require_not_better
from permissions.engine import builtin_permissions
from permissions.models import ApiKey, Role
from permissions.tests.helpers import code_of, org_url, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def hr(org):
    """A custom "HR" role: what a viewer sees, plus members:update and members:remove."""
    organization, members = org
    Role.objects.create(
        organization=organization,
        slug="hr",
        name="HR",
        permissions=sorted(builtin_permissions("viewer") | {"members:update", "members:remove"}),
    )
    membership = MembershipFactory(organization=organization, role="hr")
    return token_client(membership.user, organization)


def member_url(organization, membership) -> str:
    return org_url(organization, f"members/{membership.user_id}")


def test_hr_cannot_demote_suspend_or_remove_an_admin(org, hr):
    organization, members = org
    admin = members["admin"]

    demoted = hr.patch(member_url(organization, admin), {"role": "viewer"}, format="json")
    suspended = hr.patch(member_url(organization, admin), {"status": "suspended"}, format="json")
    removed = hr.delete(member_url(organization, admin))

    for response in (demoted, suspended, removed):
        assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS", response.content
    admin = Membership.objects.get(id=admin.id)
    assert admin.role == "admin" and admin.status == Membership.Status.ACTIVE


def test_hr_cannot_demote_a_member_holding_what_hr_does_not(org, hr):
    organization, members = org

    # viewer is grantable by HR, but the member holds documents:write, which HR does not.
    response = hr.patch(member_url(organization, members["member"]), {"role": "viewer"}, format="json")

    assert response.status_code == 403 and "documents:write" in response.json()["error"]["message"]
    assert Membership.objects.get(id=members["member"].id).role == "member"


def test_hr_cannot_reactivate_an_admin_the_owner_suspended(org, hr):
    organization, members = org
    Membership.objects.filter(id=members["admin"].id).update(status=Membership.Status.SUSPENDED)

    response = hr.patch(member_url(organization, members["admin"]), {"status": "active"}, format="json")

    assert response.status_code == 403
    assert Membership.objects.get(id=members["admin"].id).status == Membership.Status.SUSPENDED


def test_hr_still_acts_on_members_it_is_not_worse_than(org, hr):
    organization, members = org

    suspended = hr.patch(member_url(organization, members["viewer"]), {"status": "suspended"}, format="json")
    removed = hr.delete(member_url(organization, members["viewer"]))

    assert suspended.status_code == 200, suspended.content
    assert removed.status_code == 204, removed.content


def test_a_role_change_needs_the_new_role_grantable_too(org):
    organization, members = org
    Role.objects.create(organization=organization, slug="treasurer", name="Treasurer", permissions=["billing:manage", "org:read"])
    admin = token_client(members["admin"].user, organization)

    response = admin.patch(member_url(organization, members["viewer"]), {"role": "treasurer"}, format="json")

    assert response.status_code == 403 and "billing:manage" in response.json()["error"]["message"]


def test_nobody_but_the_owner_acts_on_the_owner_and_there_is_one_owner(org):
    organization, members = org
    admin = token_client(members["admin"].user, organization)

    promoted = admin.patch(member_url(organization, members["viewer"]), {"role": "owner"}, format="json")
    removed = admin.delete(member_url(organization, members["owner"]))

    assert promoted.status_code == 403 and removed.status_code == 403
    assert list(Membership.objects.filter(organization=organization, role="owner").values_list("id", flat=True)) == [members["owner"].id]


def test_an_api_key_caller_is_held_to_its_own_permissions(org):
    organization, members = org
    request = RequestFactory().patch("/", REMOTE_ADDR="127.0.0.1")

    def key(scopes):
        api_key = ApiKey.objects.create(
            organization=organization, name="k", prefix=f"k{len(scopes)}", secret_hash="x", scopes=scopes, created_by=members["owner"].user
        )
        return OrgContext(organization=organization, membership=None, api_key=api_key)

    narrow = key(["members:update", "members:remove"])
    full = key(sorted(authz.codes()))

    with pytest.raises(PermissionDeniedWithCode):
        require_not_better(request, narrow, target=members["viewer"])  # the viewer reads what the key cannot
    require_not_better(request, full, target=members["admin"])
