"""The permission catalog: declarations with their built-in role grants, and the start-up check of views."""

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core import authz
from core.checks import required_permissions_declared
from core.roles import BUILTIN_ROLES, Role


@pytest.fixture
def catalog(monkeypatch):
    """A copy of the catalog for one test: declarations made in it vanish afterwards."""
    monkeypatch.setattr(authz, "_catalog", dict(authz._catalog))


# --- roles ------------------------------------------------------------------------------------


def test_role_values_are_the_slugs_stored_in_rows():
    assert [str(role) for role in BUILTIN_ROLES] == ["owner", "admin", "member", "viewer"]
    assert Role.OWNER == "owner" and {"viewer": 1}[Role.VIEWER] == 1
    assert Role.is_builtin("admin") and not Role.is_builtin("auditor")


def test_each_role_is_held_with_those_above_it():
    assert Role.VIEWER.and_above() == set(Role)
    assert Role.MEMBER.and_above() == {Role.MEMBER, Role.ADMIN, Role.OWNER}
    assert Role.ADMIN.and_above() == {Role.ADMIN, Role.OWNER}
    assert Role.OWNER.and_above() == {Role.OWNER}


# --- declare ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lowest", "holders"),
    [
        (Role.VIEWER, {"owner", "admin", "member", "viewer"}),
        (Role.MEMBER, {"owner", "admin", "member"}),
        (Role.ADMIN, {"owner", "admin"}),
        (Role.OWNER, {"owner"}),
    ],
)
def test_declare_grants_from_the_named_role_up(catalog, lowest, holders):
    # when
    code = authz.declare("things:use", "Use things.", roles=(lowest,))

    # then
    assert code == "things:use"
    assert {role for role in BUILTIN_ROLES if code in authz.granted_to(role)} == holders
    assert code not in authz.granted_to("custom-role")


def test_declare_names_the_lowest_of_several_roles(catalog):
    authz.declare("things:use", "Use things.", roles=(Role.ADMIN, Role.MEMBER))

    assert authz._catalog["things:use"].roles == {Role.MEMBER, Role.ADMIN, Role.OWNER}


def test_declare_refuses_a_misspelled_or_missing_role(catalog):
    with pytest.raises(ValueError):
        authz.declare("things:use", "Use things.", roles=("viewr",))
    with pytest.raises(ValueError, match="names no role"):
        authz.declare("things:use", "Use things.", roles=())
    with pytest.raises(TypeError):
        authz.declare("things:use", "Use things.")  # no default: every permission says who gets it
    assert not authz.is_declared("things:use")


def test_declare_refuses_a_code_that_is_not_resource_action(catalog):
    with pytest.raises(ValueError, match="resource:action"):
        authz.declare("things", "Use things.", roles=(Role.OWNER,))


def test_declaring_twice_must_agree(catalog):
    authz.declare("things:use", "Use things.", roles=(Role.MEMBER,))

    assert authz.declare("things:use", "Use things.", roles=("member",)) == "things:use"
    with pytest.raises(ValueError, match="declared twice"):
        authz.declare("things:use", "Use things.", roles=(Role.VIEWER,))
    with pytest.raises(ValueError, match="declared twice"):
        authz.declare("things:use", "Use other things.", roles=(Role.MEMBER,))


# --- the start-up check -----------------------------------------------------------------------


def test_every_routed_view_requires_declared_permissions():
    assert required_permissions_declared() == []


@pytest.mark.django_db  # `check` runs every app's checks, dj-stripe's read the database
def test_a_view_requiring_a_misspelled_permission_fails_the_check(settings):
    # given: a URL map routing to a view that requires `org:reed`
    settings.ROOT_URLCONF = "core.tests.typo_urls"

    # when
    errors = required_permissions_declared()

    # then: one error, naming the view and the code (MEMBERSHIP is not a code, and is fine)
    assert [(type(e), e.id) for e in errors] == [(Error, "core.E001")]
    assert "core.tests.typo_urls.TypoView" in errors[0].msg and "'org:reed'" in errors[0].msg
    # and `manage.py check` (also run by migrate and runserver) refuses to go on
    with pytest.raises(SystemCheckError, match="org:reed"):
        call_command("check")
