"""core.memo: a read shared within a scope, and only there."""

from core.memo import memo_scope, remembered


def test_a_read_is_made_once_per_key_inside_a_scope_and_every_time_outside():
    calls = []

    def read(name):
        calls.append(name)
        return [name]

    first = remembered("a", lambda: read("a"))
    second = remembered("a", lambda: read("a"))
    assert calls == ["a", "a"] and first is not second

    with memo_scope():
        one, two = remembered("a", lambda: read("a")), remembered("a", lambda: read("a"))
        with memo_scope():  # a nested scope shares the outer one
            three = remembered("a", lambda: read("a"))
        other = remembered("b", lambda: read("b"))
    assert one is two is three and other == ["b"]
    assert calls == ["a", "a", "a", "b"]

    remembered("a", lambda: read("a"))  # the scope is gone
    assert calls == ["a", "a", "a", "b", "a"]


def test_a_failed_read_is_not_remembered():
    with memo_scope():
        try:
            remembered("a", lambda: 1 / 0)
        except ZeroDivisionError:
            pass
        assert remembered("a", lambda: 2) == 2
