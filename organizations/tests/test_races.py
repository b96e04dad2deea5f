"""PostgreSQL only: role changes racing an ownership transfer leave exactly one owner."""

import pytest
from django.db import connection

from conftest import client_for
from core.testing import run_together
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks and concurrent transactions)")


@pytest.fixture
def org(unlimited_plan):
    organization = OrganizationFactory()
    members = {role: MembershipFactory(organization=organization, role=role) for role in ("owner", "admin", "member")}
    clients = {role: client_for(m.user, organization) for role, m in members.items()}
    return organization, members, clients


def _owners(organization) -> list:
    return list(Membership.objects.filter(organization=organization, role="owner").values_list("user_id", flat=True))


@pytest.mark.parametrize("round_", range(3))
def test_role_changes_racing_a_transfer_leave_exactly_one_owner(org, round_):
    organization, members, clients = org
    owner, member = members["owner"], members["member"]
    base = f"/api/v1/orgs/{organization.id}"
    calls = [
        # the owner hands the org to the member ...
        lambda: clients["owner"].post(f"{base}/transfer-ownership", {"user_id": str(member.user_id)}, format="json"),
        # ... while the admin demotes that member and tries to demote the owner
        lambda: clients["admin"].patch(f"{base}/members/{member.user_id}", {"role": "viewer"}, format="json"),
        lambda: clients["admin"].patch(f"{base}/members/{owner.user_id}", {"role": "member"}, format="json"),
    ]

    responses = run_together(len(calls), lambda i: calls[i]())

    assert all(hasattr(response, "status_code") for response in responses), responses
    assert all(response.status_code < 500 for response in responses)
    owners = _owners(organization)
    assert len(owners) == 1
    transfer = responses[0]
    assert transfer.status_code == 200, transfer.content
    assert owners == [member.user_id]
    # the previous owner is an admin (or less, if the demotion landed after the transfer)
    assert Membership.objects.get(id=owner.id).role in ("admin", "member")


def test_two_concurrent_transfers_have_one_winner(org):
    organization, members, clients = org
    base = f"/api/v1/orgs/{organization.id}"
    targets = [members["admin"].user_id, members["member"].user_id]

    responses = run_together(2, lambda i: clients["owner"].post(f"{base}/transfer-ownership", {"user_id": str(targets[i])}, format="json"))

    assert sorted(r.status_code for r in responses) == [200, 403]
    winner = targets[[r.status_code for r in responses].index(200)]
    assert _owners(organization) == [winner]
