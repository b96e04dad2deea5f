"""parse_uuid: ids from clients, tokens and rows."""

import uuid

import pytest

from core.ids import parse_uuid

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize("value", [ID, str(ID), ID.hex, str(ID).upper()])
def test_a_uuid_or_its_text_is_parsed(value):
    assert parse_uuid(value) == ID


@pytest.mark.parametrize("value", [None, ""])
def test_no_value_is_none_even_when_strict(value):
    assert parse_uuid(value) is None
    assert parse_uuid(value, strict=True) is None


def test_a_malformed_value_is_none_or_an_error_when_strict():
    assert parse_uuid("not-a-uuid") is None
    assert parse_uuid(42) is None
    with pytest.raises(ValueError):
        parse_uuid("not-a-uuid", strict=True)
