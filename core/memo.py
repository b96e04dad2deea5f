"""Reads shared within one unit of work: the same cache read asked twice in a scope is done once.

Issuing an access token asks two apps' hooks about the same membership (its role for the token,
then the member's permissions), each a cache round trip (issue 17). Inside `with memo_scope():`
`remembered(key, read)` calls `read()` once per key and hands the same value to later callers;
outside a scope it simply calls `read()`. Scopes are short (one token's claims) and hold reads
only: nothing written inside one is expected to be seen by a later read in it.
"""

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_scope: ContextVar[dict | None] = ContextVar("memo_scope", default=None)


@contextmanager
def memo_scope() -> Iterator[None]:
    """Share reads until the block ends (nested scopes share the outermost one)."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def remembered(key: Hashable, read: Callable[[], Any]) -> Any:
    """`read()`, once per `key` inside a scope."""
    memo = _scope.get()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]
