"""What every request handler of ours adds to Django's: writes in a transaction, reads outside one.

`ATOMIC_REQUESTS` wraps every view in a transaction, reads included: two more round trips to
PostgreSQL (BEGIN, COMMIT) on every GET for nothing, since a read that sees one snapshot per
statement is what every list and detail view here wants (issue 17). With this mixin a safe
method (GET, HEAD, OPTIONS) runs in autocommit; every other method keeps the request
transaction, `non_atomic_requests` views keep their own handling. A view whose GET writes (an
OAuth start or callback, an e-mail link) sets `atomic_reads = True` and keeps the request
transaction for every method.

Used by the ASGI handler (config/asgi.py), the WSGI handler (config/wsgi.py) and, so the tests
run the same way, Django's test client handler (root conftest.py).
"""

from functools import wraps

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AtomicWritesOnly:
    """A BaseHandler mixin: the request transaction for unsafe methods only."""

    def make_view_atomic(self, view):
        atomic_view = super().make_view_atomic(view)
        if atomic_view is view:  # ATOMIC_REQUESTS off, or a non_atomic_requests view
            return view

        if getattr(getattr(view, "view_class", None), "atomic_reads", False):
            return atomic_view

        @wraps(view)
        def atomic_unless_safe(request, *args, **kwargs):
            if request.method in SAFE_METHODS:
                return view(request, *args, **kwargs)
            return atomic_view(request, *args, **kwargs)

        return atomic_unless_safe
