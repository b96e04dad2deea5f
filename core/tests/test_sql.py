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
