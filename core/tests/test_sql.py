"""core.sql.CompiledQuery: the ORM's SQL compiled once, run for each instance with the same rows as the queryset."""

import pytest
from allauth.socialaccount.models import SocialAccount
from django.db.models import CharField, Value
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.tests.factories import UserFactory
from core.sql import CompiledQuery

pytestmark = pytest.mark.django_db


def _methods(user):
    providers = SocialAccount.objects.filter(user=user).values_list(Value("provider", output_field=CharField()), "provider")
    factors = TOTPDevice.objects.filter(user=user, confirmed=True).values_list(Value("factor", output_field=CharField()), "name")
    return providers.union(factors, all=True).order_by("provider")


def test_rows_are_the_querysets_for_every_instance_and_the_sql_is_built_once(django_assert_num_queries):
    # given users with different sign-in methods (one with none)
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    SocialAccount.objects.create(user=alice, provider="google", uid="a-1")
    SocialAccount.objects.create(user=alice, provider="github", uid="a-2")
    TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)
    TOTPDevice.objects.create(user=bob, name="draft", confirmed=False)
    builds = []

    def build(user):
        builds.append(user)
        return _methods(user)

    query = CompiledQuery(User, build)

    # then each user's rows are what the queryset itself returns, one query each
    for user in (alice, bob, carol, alice):
        with django_assert_num_queries(1):
            rows = query.rows(user)
        assert rows == list(_methods(user))
    assert rows == [("provider", "github"), ("provider", "google")]
    assert query.rows(bob) == [("factor", "phone")] and query.rows(carol) == []
    # and the ORM built the SQL once, for a marker that is none of them
    assert len(builds) == 1 and builds[0].pk not in {alice.pk, bob.pk, carol.pk}


def test_a_query_that_ignores_its_instance_is_refused():
    query = CompiledQuery(User, lambda user: SocialAccount.objects.filter(provider="google").values_list("uid"))

    with pytest.raises(ValueError, match="does not depend on the User"):
        query.rows(UserFactory())


def _sessions(user):
    from accounts.models import UserSession

    columns = ("id", "created_at", "mfa_verified", "organization_id", "ip", "revoked_at")
    return UserSession.objects.filter(user=user).order_by("created_at", "id").values_list(*columns)


def test_rows_are_converted_as_values_list_converts_them_and_slice_as_the_queryset_does():
    # given sessions whose columns need the ORM's converters on some backend (UUIDs, datetimes,
    # booleans on SQLite), with nulls among them
    import uuid
    from datetime import timedelta

    from accounts.models import UserSession
    from core import clock

    user, other = UserFactory(), UserFactory()
    now = clock.now()
    for index in range(7):
        UserSession.objects.create(
            user=user,
            created_at=now - timedelta(minutes=index, microseconds=index),
            expires_at=now + timedelta(days=1),
            mfa_verified=index % 2 == 0,
            organization_id=uuid.uuid4() if index % 3 else None,
            ip="203.0.113.7" if index % 2 else None,
            revoked_at=now if index == 4 else None,
        )
    UserSession.objects.create(user=other, expires_at=now)
    query = CompiledQuery(User, _sessions)

    # then the rows, whole and sliced, are the queryset's, values of the same Python types
    assert query.rows(user) == list(_sessions(user))
    for low, high in ((0, 3), (2, 5), (5, None), (0, 100), (6, 7)):
        assert query.rows(user, low=low, high=high) == list(_sessions(user)[low:high]), (low, high)
    first = query.rows(user, high=1)[0]
    assert isinstance(first[0], uuid.UUID) and first[1].tzinfo is not None and first[2] in (True, False)
    assert len(query.rows(other)) == 1


def test_several_marker_fields_each_take_the_instances_value():
    # given memberships of two users in two orgs
    from organizations.models import Membership
    from organizations.tests.factories import MembershipFactory, OrganizationFactory

    first, second = OrganizationFactory(), OrganizationFactory()
    alice, bob = UserFactory(), UserFactory()
    rows = {
        (user.pk, organization.pk): MembershipFactory(user=user, organization=organization, role=role).pk
        for user, organization, role in ((alice, first, "admin"), (bob, first, "member"), (alice, second, "viewer"))
    }
    query = CompiledQuery(
        Membership,
        lambda marker: Membership.objects.filter(user_id=marker.user_id, organization_id=marker.organization_id).values_list("id", "role"),
        fields=("user_id", "organization_id"),
    )

    # then each (user, org) pair finds its own row, and a pair without one finds none
    for (user_id, organization_id), pk in rows.items():
        assert query.rows(Membership(user_id=user_id, organization_id=organization_id)) == list(
            Membership.objects.filter(user_id=user_id, organization_id=organization_id).values_list("id", "role")
        )
        assert query.rows(Membership(user_id=user_id, organization_id=organization_id))[0][0] == pk
    assert query.rows(Membership(user_id=bob.pk, organization_id=second.pk)) == []


def test_a_sliced_query_is_refused():
    query = CompiledQuery(User, lambda user: SocialAccount.objects.filter(user=user).values_list("uid")[:5])

    with pytest.raises(ValueError, match="is sliced"):
        query.rows(UserFactory())
