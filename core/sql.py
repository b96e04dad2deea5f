"""Querysets compiled to SQL once per process, then run with the value of each request (issue 17).

Django turns a queryset into SQL on every evaluation. For a short query on a hot path that is
most of its CPU: `users/me`'s sign-in methods (a UNION of three filtered querysets) cost 0.9 ms
of CPU, of which 0.58 ms building and compiling it and 0.15 ms running it (measured in process
on PostgreSQL, docs/performance.md "Compiled queries"). A `CompiledQuery` asks the ORM for the
SQL once per database vendor, with a marker in place of the per-request value, and from then on
runs that SQL with the real value where the marker was. The SQL is still the ORM's (quoting,
vendor differences, table names all its own): nothing is written by hand.
"""

import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Field, Model, QuerySet


class CompiledQuery:
    """`build(marker)` → a queryset whose only per-request value is `marker`, a `model` instance standing for the real one.

    `rows(instance)` runs it for `instance` (of `model`) and returns the rows as tuples, as
    `values_list` would: use it for querysets of plain columns and constants (no model
    instances, no database converters beyond what the driver returns).
    """

    def __init__(self, model: type[Model], build: Callable[[Model], QuerySet]):
        self.model, self.build = model, build
        self._compiled: dict[str, tuple[str, tuple, list[int]]] = {}
        self._lock = threading.Lock()

    def _compile(self, connection) -> tuple[str, tuple, list[int]]:
        pk: Field = self.model._meta.pk
        marker = self.model(pk=uuid.uuid4() if pk.get_internal_type() == "UUIDField" else -987654321)
        sql, params = self.build(marker).query.get_compiler(connection=connection).as_sql()
        prepared = pk.get_db_prep_value(marker.pk, connection)
        positions = [index for index, param in enumerate(params) if param == prepared]
        if not positions:
            raise ValueError(f"{self.build!r} does not depend on the {self.model.__name__} it is given")
        return sql, tuple(params), positions

    def rows(self, instance: Model, using: str = "default") -> list[tuple[Any, ...]]:
        connection = connections[using]
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(connection.vendor, self._compile(connection))
        sql, params, positions = compiled
        args = list(params)
        value = self.model._meta.pk.get_db_prep_value(instance.pk, connection)
        for index in positions:
            args[index] = value
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
