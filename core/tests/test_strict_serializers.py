"""Every body serializer refuses fields it does not know (API.md v1.1 request conventions)."""

import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import get_resolver
from rest_framework import serializers

from conftest import client_for
from core.serializers import UNKNOWN_FIELD, QuerySerializer, StrictFieldsMixin
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _ours(cls) -> bool:
    path = Path(getattr(sys.modules[cls.__module__], "__file__", "") or "/")
    return Path(settings.BASE_DIR) in path.parents and ".venv" not in path.parts


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_serializer_of_ours_is_strict_or_a_query_serializer():
    # given every view module imported (the URLconf imports them all)
    assert get_resolver().url_patterns
    # when listing the serializers our apps define
    ours = {cls for cls in _subclasses(serializers.BaseSerializer) if _ours(cls)}
    # then each refuses unknown body fields, or only reads a query string
    lax = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in ours
        if not issubclass(cls, (StrictFieldsMixin, QuerySerializer, serializers.ListSerializer)) and cls.__module__ != "core.serializers"
    )
    assert len(ours) > 50
    assert lax == []


def test_an_unknown_body_field_is_a_400_naming_it():
    # given an owner updating their org
    membership = MembershipFactory(role="owner")
    client = client_for(membership.user, membership.organization)
    # when the body carries a field the endpoint does not know
    response = client.patch(f"/api/v1/orgs/{membership.organization_id}", {"name": "New", "colour": "red"}, format="json")
    # then it is refused, naming the field, and nothing changed
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"] == {"colour": [UNKNOWN_FIELD]}
    membership.organization.refresh_from_db()
    assert membership.organization.name != "New"


def test_a_read_only_field_sent_back_is_refused_too():
    # given a member item, whose e-mail an org admin cannot change
    owner = MembershipFactory(role="owner")
    member = MembershipFactory(organization=owner.organization, role="member")
    client = client_for(owner.user, owner.organization)
    # when the admin sends the member's e-mail along with a role change
    response = client.patch(
        f"/api/v1/orgs/{owner.organization_id}/members/{member.user_id}",
        {"role": "viewer", "email": "other@example.com"},
        format="json",
    )
    # then the whole change is refused
    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]
    member.refresh_from_db()
    assert member.role == "member"


def test_nested_objects_are_strict_as_well():
    # given an owner editing settings, whose value is a nested object
    membership = MembershipFactory(role="owner")
    client = client_for(membership.user, membership.organization)
    # when an unknown top-level key arrives beside a known one
    response = client.patch(
        f"/api/v1/orgs/{membership.organization_id}/settings",
        {"timezone": "UTC", "unknown_switch": True},
        format="json",
    )
    # then it is named
    assert response.status_code == 400
    assert "unknown_switch" in response.json()["error"]["details"]


# --- PlainCharField: CharField's answers, in one step for valid values (issue 17) ------------------


@pytest.mark.parametrize(
    "value",
    ["org:read", "  padded  ", "x" * 100, "x" * 101, "", "   ", None, 7, 3.5, True, ["a"], {"a": 1}, "nul\x00", "sur\ud800rogate", "é" * 100],
)
def test_plain_char_field_answers_as_charfield_does(value):
    from rest_framework import serializers as drf

    from core.serializers import PlainCharField

    def outcome(field):
        try:
            return "ok", field.run_validation(value)
        except drf.ValidationError as error:
            return "error", error.detail

    assert outcome(PlainCharField(max_length=100)) == outcome(drf.CharField(max_length=100))


def test_plain_char_field_refuses_settings_it_does_not_shortcut():
    from django.core.validators import RegexValidator

    from core.serializers import PlainCharField

    refused = (
        {},
        {"max_length": 5, "allow_blank": True},
        {"max_length": 5, "trim_whitespace": False},
        {"max_length": 5, "min_length": 2},
        {"max_length": 5, "validators": [RegexValidator("^[a-z]+$")]},
    )
    for options in refused:
        with pytest.raises(TypeError):
            PlainCharField(**options)


# --- fields_copy: each serializer instance its own fields, cheaply (issue 17) ----------------------


def test_field_copies_bind_and_validate_on_their_own():
    from rest_framework import serializers as drf

    from core.serializers import fields_copy

    template = {
        "name": drf.CharField(max_length=5),
        "codes": drf.ListField(child=drf.CharField(max_length=3)),
        "kind": drf.ChoiceField(choices=["a", "b"]),
        "shout": drf.SerializerMethodField(),
    }

    class Holder(drf.Serializer):
        def get_shout(self, obj):
            return id(self)

    first, second = fields_copy(template), fields_copy(template)
    one, two = Holder(), Holder()
    for name in template:
        first[name].bind(name, one)
        second[name].bind(name, two)

    for name in template:
        assert first[name] is not second[name] and first[name] is not template[name]
        assert first[name].parent is one and second[name].parent is two and template[name].parent is None
    assert first["codes"].child is not second["codes"].child and first["codes"].child.parent is first["codes"]
    assert first["shout"].to_representation(None) == id(one) and second["shout"].to_representation(None) == id(two)
    first["name"].validators.append(lambda value: None)
    assert len(second["name"].validators) == len(template["name"].validators) == len(first["name"].validators) - 1
    with pytest.raises(serializers.ValidationError):
        second["name"].run_validation("too long")
    assert second["kind"].run_validation("b") == "b"


def test_a_field_with_a_mutable_default_is_not_shared_between_copies():
    from rest_framework import serializers as drf

    from core.serializers import fields_copy

    template = {"tags": drf.JSONField(default={"a": []}, required=False), "name": drf.CharField(default="x")}

    first, second = fields_copy(template), fields_copy(template)
    first["tags"].get_default()["a"].append("changed")

    assert second["tags"].get_default() == {"a": []} and template["tags"].default == {"a": []}
    assert first["name"].get_default() == second["name"].get_default() == "x"
