"""Input serializers that refuse what they do not know (API.md v1.1: an unknown body field is a 400 naming it).

Every serializer that reads a request body derives from `Serializer` or `ModelSerializer` here
(core/tests/test_strict_serializers.py holds every app to it). A field is known when the
serializer can write it; a read-only field sent back (`id`, `email` on a member) is refused
too, because silently dropping it is what misled clients.
"""

import copy
import re
import threading
from collections.abc import Mapping
from enum import Enum
from typing import Any

from rest_framework import serializers

UNKNOWN_FIELD = "Unknown field: this endpoint does not accept it."


class StrictFieldsMixin:
    """Refuse body keys that are not writable fields of this serializer (nested ones included)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data if key not in writable)
            if unknown:
                raise serializers.ValidationError({name: [UNKNOWN_FIELD] for name in unknown})
        return super().to_internal_value(data)


# DRF copies a serializer's fields for each instance by calling every field's __init__ again
# (Field.__deepcopy__): 0.3 ms of users/me's 2.6 (issue 17). A leaf field holds nothing an
# instance changes but what bind() sets on it (its name, parent, source, label) and, for
# safety, its validators list and error messages, so a shallow copy with those two copied is
# the same field; a field holding other fields (a list's child, a nested serializer), a
# queryset or a mutable default/initial is copied as DRF copies it.
_LEAF_FIELDS = frozenset({
    serializers.BooleanField, serializers.CharField, serializers.EmailField, serializers.SlugField, serializers.URLField,
    serializers.UUIDField, serializers.IPAddressField, serializers.IntegerField, serializers.FloatField, serializers.DecimalField,
    serializers.DateTimeField, serializers.DateField, serializers.TimeField, serializers.DurationField, serializers.ChoiceField,
    serializers.ReadOnlyField, serializers.SerializerMethodField, serializers.JSONField,
})  # fmt: skip


def _immutable(value) -> bool:
    """Safe to share between serializer instances (a mutable default or initial is deep-copied with its field)."""
    return value is serializers.empty or value is None or callable(value) or isinstance(value, str | int | float | bool | bytes | Enum)


def fields_copy(fields: Mapping[str, serializers.Field]) -> dict[str, serializers.Field]:
    """A serializer instance's own copies of unbound fields: leaf fields copied shallowly (as above), others as DRF copies them."""
    copies = {}
    for name, field in fields.items():
        if (type(field) in _LEAF_FIELDS or type(field) is PlainCharField) and _immutable(field.default) and _immutable(field.initial):
            copied = copy.copy(field)
            if "_validators" in field.__dict__:
                copied._validators = list(field._validators)
            copied.error_messages = dict(field.error_messages)
        else:
            copied = copy.deepcopy(field)
        copies[name] = copied
    return copies


class Serializer(StrictFieldsMixin, serializers.Serializer):
    """A DRF Serializer that refuses unknown fields, its fields copied for each instance by `fields_copy`."""

    def get_fields(self):
        return fields_copy(self._declared_fields)


class ModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A DRF ModelSerializer that refuses unknown fields, its fields built from the model once per class."""

    def get_fields(self):
        """A copy of the fields DRF builds from the model, built once per serializer class.

        DRF introspects the model and builds every field on each instance (0.2-0.4 ms of CPU for
        a dozen fields, against 0.08 ms to copy them: issue 17). What it builds depends only on
        the class and its Meta (no serializer here overrides a build_* hook), so each instance
        gets a deep copy, as DRF already hands out the declared fields.
        """
        built = type(self).__dict__.get("_fields_built")
        if built is None:
            built = super().get_fields()
            type(self)._fields_built = built
        return fields_copy(built)


class QuerySerializer(serializers.Serializer):
    """Validates a query string's filters; other keys are left alone.

    Query strings also carry the paginator's keys (`cursor`, `limit`, `offset`, `page_size`) and
    clients' cache busters, which are not this serializer's to judge; bodies are strict.
    """


class NoBodySerializer(Serializer):
    """The body of an endpoint that takes none: empty or `{}`; any field in it is unknown (400)."""


def body_refuse(request) -> None:
    """Refuse (400 naming them) the fields of a body sent to an endpoint that takes no body.

    For views that never read `request.data`: without this, whatever a client sends there would be
    silently ignored (API.md v1.1: "never silently ignored").
    """
    data = request.data
    NoBodySerializer(data={} if data is None else data).is_valid(raise_exception=True)


class RowRenderer:
    """A read serializer's output for `values_list` rows, rendered by the serializer's own fields (issue 17).

    A list of model instances costs a model instance per row (two with a `select_related` user)
    and DRF's attribute walk per field: 0.77 + 0.98 ms of CPU for a page of 20 members, against
    0.37 ms to run the query. The serializer's fields read plain columns here: `columns` names
    each field's source as an ORM lookup (`user.email` → `user__email`), to select with
    `values_list(*columns)`, and `render(rows)` hands each value to the field's own
    `to_representation`, as DRF's `Serializer.to_representation` does (None stays None).
    Only for serializers whose readable fields are all plain columns (no `source="*"`, methods,
    nested serializers or relations): anything else is refused when the renderer is made.
    """

    def __init__(self, serializer_class: type[serializers.Serializer]):
        self.serializer_class = serializer_class
        self._fields: list[tuple[str, serializers.Field]] | None = None
        self._lock = threading.Lock()

    def _readable(self) -> list[tuple[str, serializers.Field]]:
        if self._fields is None:
            with self._lock:
                readable = [field for field in self.serializer_class().fields.values() if not field.write_only]
                for field in readable:
                    plain = field.source != "*" and not isinstance(
                        field, serializers.BaseSerializer | serializers.SerializerMethodField | serializers.RelatedField | serializers.ManyRelatedField
                    )
                    if not plain:
                        raise TypeError(f"{self.serializer_class.__name__}.{field.field_name} is not a plain column")
                self._fields = [(field.field_name, field) for field in readable]
        return self._fields

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(field.source.replace(".", "__") for _, field in self._readable())

    def render(self, rows) -> list[dict[str, Any]]:
        fields = self._readable()
        return [{name: None if value is None else field.to_representation(value) for (name, field), value in zip(fields, row, strict=True)} for row in rows]


_SURROGATES = re.compile("[\ud800-\udfff]")


class PlainCharField(serializers.CharField):
    """A CharField (max_length required, blank refused, whitespace trimmed) whose valid values skip DRF's validator chain.

    For list items validated by the hundred (check-many's permission codes): a plain string that
    is not blank, fits `max_length` and holds no NUL or surrogate passes here in one step;
    anything else goes through CharField's own validation, so errors are DRF's, word for word.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The one-step path checks exactly what CharField's own validators would: nothing more may be asked.
        if self.max_length is None or self.allow_blank or not self.trim_whitespace or self.min_length is not None or kwargs.get("validators"):
            raise TypeError("PlainCharField needs max_length, allow_blank=False, trim_whitespace=True, and no min_length or validators")

    def run_validation(self, data=serializers.empty):
        if type(data) is str:
            value = data.strip()
            if value and len(value) <= self.max_length and "\x00" not in value and not _SURROGATES.search(value):
                return value
        return super().run_validation(data)
