"""Typed hooks: a provider that does not fit, a second provider or a misspelled argument fails loudly."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import entitlements, hooks


def _fresh_hook():
    @hooks.hook
    def answer(*, organization, name: str) -> int | None:
        return None

    return answer


def _fresh_collector():
    @hooks.collector
    def counts(*, organization) -> dict:
        raise NotImplementedError

    return counts


def test_without_a_provider_the_contract_answers():
    answer = _fresh_hook()

    assert answer(organization=None, name="seats") is None
    assert not answer.provided


def test_a_provider_answers_once_installed():
    answer = _fresh_hook()

    def limit(*, organization, name):
        return 3

    answer.provide(limit)
    answer.provide(limit)  # the same provider again (AppConfig.ready run twice) is a no-op

    assert answer(organization=None, name="seats") == 3
    assert answer.provided


def test_a_misspelled_argument_is_a_type_error_with_or_without_a_provider():
    answer = _fresh_hook()
    with pytest.raises(TypeError):
        answer(organisation=None, name="seats")
    answer.provide(lambda *, organization, name: 1)
    with pytest.raises(TypeError):
        answer(organisation=None, name="seats")
    counts = _fresh_collector()
    with pytest.raises(TypeError):
        counts(org=None)


def test_a_provider_with_other_parameters_fails_at_start_up():
    answer = _fresh_hook()

    with pytest.raises(ImproperlyConfigured, match="cannot provide hook 'answer'"):
        answer.provide(lambda *, organization, names: 1)


def test_a_second_provider_of_a_one_answer_hook_fails_instead_of_silently_winning():
    answer = _fresh_hook()
    answer.provide(lambda *, organization, name: 1)

    with pytest.raises(ImproperlyConfigured, match="already provided"):
        answer.provide(lambda *, organization, name: 2)


def test_a_collector_gathers_every_providers_answer():
    counts = _fresh_collector()
    counts.provide(lambda *, organization: {"integrations": 2})
    counts.provide(lambda *, organization: {"storage_mb": 5})

    assert counts(organization=None) == [{"integrations": 2}, {"storage_mb": 5}]
    with counts.overridden(lambda *, organization: {"x": 1}):
        assert counts(organization=None) == [{"x": 1}]
    assert len(counts(organization=None)) == 2


def test_the_installed_apps_provide_the_platform_hooks():
    # What AppConfig.ready() installed: billing answers entitlements, organizations the account hooks.
    assert entitlements.entitlement_limit.provided and entitlements.usage_consume.provided
    assert hooks.organization_create.provided and hooks.token_claims.provided and hooks.domain_sign_in.provided
    assert hooks.role_exists.provided and hooks.plan_claims.provided
    assert len(hooks.usage_counts.providers) == 2  # integrations and documents
    assert len(hooks.user_export.providers) >= 3  # organizations, notifications, ai
