"""The cached org context: one cache round trip instead of a query, and never a stale answer after a change."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import client_for
from core.actor import Actor
from organizations import services
from organizations.context import CONTEXT_CACHE_SECONDS, _membership_key, _organization_key
from organizations.models import Membership

pytestmark = pytest.mark.django_db


def members_url(organization) -> str:
    return f"/api/v1/orgs/{organization.id}/members"


def membership_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if 'FROM "organizations_membership"' in q["sql"] and "organizations_organization" in q["sql"]]


@pytest.fixture
def warm(org):
    """(org, members, the member's client) after one request has cached the member's context."""
    organization, members = org
    client = client_for(members["member"].user, organization)
    assert client.get(f"/api/v1/orgs/{organization.id}").status_code == 200
    return organization, members, client


def test_a_warm_request_reads_membership_and_org_from_the_cache(warm):
    organization, members, client = warm

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/orgs/{organization.id}")

    assert response.status_code == 200 and response.json()["name"] == organization.name
    assert membership_queries(captured.captured_queries) == []


def test_suspension_takes_effect_on_the_next_request(warm):
    organization, members, client = warm
    owner = members["owner"]

    services.member_update(
        membership=members["member"],
        actor=Actor.for_user(owner.user),
        actor_membership=owner,
        data={"status": "suspended"},
        ensure_role_grantable=lambda slug: None,
        ensure_not_better=lambda target: None,
    )

    response = client.get(f"/api/v1/orgs/{organization.id}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INVALID_ORG_CONTEXT"


def test_removal_takes_effect_on_the_next_request(warm):
    organization, members, client = warm

    services.member_remove(membership=members["member"], actor=Actor.for_user(members["owner"].user), ensure_not_better=lambda target: None)

    assert client.get(f"/api/v1/orgs/{organization.id}").status_code == 404


def test_a_role_change_takes_effect_on_the_next_request(warm):
    organization, members, client = warm
    assert client.patch(f"/api/v1/orgs/{organization.id}", {"name": "Renamed"}, format="json").status_code == 403

    owner = members["owner"]
    services.member_update(
        membership=members["member"],
        actor=Actor.for_user(owner.user),
        actor_membership=owner,
        data={"role": "admin"},
        ensure_role_grantable=lambda slug: None,
        ensure_not_better=lambda target: None,
    )

    response = client.patch(f"/api/v1/orgs/{organization.id}", {"name": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed"


def test_an_org_change_is_seen_at_once(warm):
    organization, members, client = warm
    admin = client_for(members["admin"].user, organization)

    assert admin.patch(f"/api/v1/orgs/{organization.id}", {"name": "New name"}, format="json").status_code == 200

    assert client.get(f"/api/v1/orgs/{organization.id}").json()["name"] == "New name"


def test_a_deleted_org_is_gone_at_once(warm):
    organization, members, client = warm

    services.organization_delete(organization=organization, actor=Actor.for_user(members["owner"].user), confirm=organization.slug)

    assert client.get(f"/api/v1/orgs/{organization.id}").status_code == 404


def test_an_authorization_revision_bump_drops_the_cached_org(warm):
    organization, members, client = warm
    from django.core.cache import cache

    assert cache.get(_organization_key(organization.id)) is not None
    revision = services.authz_revision_bump(organization=organization)

    assert cache.get(_organization_key(organization.id)) is None
    client.get(f"/api/v1/orgs/{organization.id}")
    assert cache.get(_organization_key(organization.id)).authz_revision == revision


def test_the_cache_is_dropped_again_when_the_change_commits(warm, django_capture_on_commit_callbacks):
    """A request that read the old row before the commit must not leave it cached."""
    organization, members, client = warm
    from django.core.cache import cache

    key = _membership_key(organization.id, members["member"].user_id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Membership.objects.filter(pk=members["member"].pk).first().save(update_fields=["title"])
        # What a concurrent request would do between the change and its commit.
        cache.set(key, ["old"], CONTEXT_CACHE_SECONDS)
    for callback in callbacks:
        callback()

    assert cache.get(key) is None


def test_without_a_cache_the_database_answers(warm, settings):
    organization, members, client = warm
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/orgs/{organization.id}")

    assert response.status_code == 200
    assert len(membership_queries(captured.captured_queries)) == 1


def test_entries_of_another_row_shape_are_never_read(warm, monkeypatch):
    """After a deploy that changes a column, what the old code cached is a miss, not a misread row."""
    from organizations import context

    organization, members, client = warm
    monkeypatch.setattr(context, "_SHAPE", context._SHAPE + 1)

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/orgs/{organization.id}")

    assert response.status_code == 200
    assert len(membership_queries(captured.captured_queries)) == 1


def test_the_compiled_membership_read_is_the_orms_row_with_its_organization(org_factory):
    from organizations.context import _membership_with_organization

    organization, members = org_factory(roles=("owner", "admin"))
    admin = members["admin"]

    found = _membership_with_organization(admin.user_id, organization.id)
    expected = Membership.objects.select_related("organization").get(pk=admin.pk)

    def values(instance):
        return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}

    assert values(found) == values(expected) and values(found.organization) == values(expected.organization)
    assert _membership_with_organization(admin.user_id, uuid.uuid4()) is None
