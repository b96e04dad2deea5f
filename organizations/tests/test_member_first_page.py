"""Page 1 of the member list from the compiled query (core.pagination.CompiledFirstPageMixin, issue 17).

The fast path must answer exactly what DRF's own path answers for the same members: every
field, its rendering (UUIDs, times in the API's zone, blanks and nulls), order, total and paging.
"""

from datetime import timedelta

import pytest
from rest_framework.test import APIRequestFactory

from conftest import client_for
from core import clock
from core.pagination import CompiledList, PageLimitPagination
from core.serializers import ModelSerializer, RowRenderer
from organizations import selectors
from organizations.api import serializers as s
from organizations.api.views import MemberListView
from organizations.models import Membership, Organization
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(org_factory):
    """An org of 4 members plus 21 more with varied optional fields; a viewer's client."""
    organization, members = org_factory(roles=("owner", "admin", "member", "viewer"))
    start = clock.now() - timedelta(days=30)
    for index in range(21):
        MembershipFactory(
            organization=organization,
            role="member" if index % 2 else "viewer",
            status=Membership.Status.SUSPENDED if index % 5 == 0 else Membership.Status.ACTIVE,
            status_reason="left the team" if index % 5 == 0 else "",
            display_name=f"Display {index}" if index % 3 == 0 else "",
            title="Engineer" if index % 4 == 0 else "",
            joined_at=start + timedelta(hours=index, microseconds=index * 7),
        )
    return organization, client_for(members["viewer"].user, organization)


def drf_page(organization, *, limit: int) -> list[dict]:
    """What DRF's path renders: MemberSerializer over model instances of the same queryset."""
    rows = list(selectors.member_list(organization=organization)[:limit])
    return [dict(item) for item in s.MemberSerializer(rows, many=True).data]


@pytest.mark.parametrize("limit", [20, 25, 100])
def test_page_one_is_what_drfs_path_renders(crowd, limit):
    organization, client = crowd

    body = client.get(f"/api/v1/orgs/{organization.id}/members?limit={limit}").json()

    assert body["data"] == drf_page(organization, limit=limit)
    assert (body["total"], body["page"], body["limit"]) == (25, 1, limit)
    assert body["total_pages"] == (2 if limit == 20 else 1)


def test_page_one_and_the_filtered_or_later_pages_agree(crowd):
    organization, client = crowd
    base = f"/api/v1/orgs/{organization.id}/members"

    first = client.get(f"{base}?limit=10").json()
    second = client.get(f"{base}?limit=10&page=2").json()
    # a filter that keeps everyone takes DRF's path for page 1
    filtered = client.get(f"{base}?limit=10&search=@").json()

    assert first["data"] == filtered["data"] and first["total"] == filtered["total"] == 25
    assert not {m["user_id"] for m in first["data"]} & {m["user_id"] for m in second["data"]}
    assert client.get(f"{base}?page=4&limit=10").status_code == 404


def test_page_one_costs_one_query_when_it_holds_every_member(crowd, django_assert_num_queries):
    organization, client = crowd
    client.get(f"/api/v1/orgs/{organization.id}/members?limit=50")  # warm: session, membership, decision

    with django_assert_num_queries(2):  # the user row, the page (no COUNT)
        response = client.get(f"/api/v1/orgs/{organization.id}/members?limit=50")

    assert response.json()["total"] == 25


def test_bad_paging_parameters_are_refused_as_before(crowd):
    organization, client = crowd
    base = f"/api/v1/orgs/{organization.id}/members"

    for query in ("limit=0", "limit=abc", "page=0", "page=x"):
        response = client.get(f"{base}?{query}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR", query


def test_another_orgs_members_never_appear(crowd, org_factory):
    organization, client = crowd
    other, _ = org_factory(roles=("owner", "member"))

    listed = {m["user_id"] for m in client.get(f"/api/v1/orgs/{organization.id}/members?limit=100").json()["data"]}

    assert listed == {str(user_id) for user_id in Membership.objects.filter(organization=organization).values_list("user_id", flat=True)}
    assert client.get(f"/api/v1/orgs/{other.id}/members").status_code == 404


def test_the_view_serves_page_one_without_drfs_per_instance_rendering(crowd, monkeypatch):
    organization, client = crowd

    def per_instance(self, instance):
        raise AssertionError("page 1 rendered a Membership instance")

    monkeypatch.setattr(s.MemberSerializer, "to_representation", per_instance)

    assert client.get(f"/api/v1/orgs/{organization.id}/members").status_code == 200


def test_only_plain_column_serializers_can_be_rendered_from_rows():
    class WithMethod(ModelSerializer):
        shout = s.serializers.SerializerMethodField()

        class Meta:
            model = Membership
            fields = ["role", "shout"]

        def get_shout(self, obj):
            return obj.role.upper()

    with pytest.raises(TypeError, match="shout is not a plain column"):
        _ = CompiledList(WithMethod, Organization, lambda organization: selectors.member_list(organization=organization)).renderer.columns
    assert RowRenderer(s.MemberSerializer).columns[:2] == ("user__id", "user__email")


def test_the_paginators_first_page_response_has_the_contracts_shape():
    request = MemberListView().initialize_request(APIRequestFactory().get("/"))
    response = PageLimitPagination().first_page_response(request, [{"a": 1}], total=41, limit=20)

    assert response.data == {"data": [{"a": 1}], "total": 41, "page": 1, "limit": 20, "total_pages": 3}
