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
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Field, Model, QuerySet


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    positions: dict[str, list[int]]  # marker field -> where its value is in `params`
    # Column index -> (the backend's and the field's from-database converters, the column's
    # expression), as the ORM applies them to `values_list` rows (UUIDs and datetimes on SQLite).
    converters: dict[int, tuple[list, Any]]


class CompiledQuery:
    """`build(marker)` → a `values_list` queryset whose only per-request values are the `fields` of `marker`, a `model` instance standing for the real one.

    `rows(instance)` runs it with `instance`'s values of those fields (the primary key unless
    `fields` names others, e.g. `("user_id", "organization_id")` of a Membership) and returns the
    rows as tuples, as `values_list` would, the ORM's from-database converters applied (no model
    instances); `low`/`high` slice it as `queryset[low:high]` does, with the backend's own
    LIMIT/OFFSET.
    """

    def __init__(self, model: type[Model], build: Callable[[Model], QuerySet], fields: tuple[str, ...] | None = None):
        self.model, self.build = model, build
        self.fields = [model._meta.pk] if fields is None else [model._meta.get_field(name) for name in fields]
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _marker_value(field: Field, index: int):
        target = field.target_field if field.is_relation else field
        if target.get_internal_type() == "UUIDField":
            return uuid.uuid4()
        return -987654321 - index  # integer keys: a value no row has

    def _compile(self, connection) -> _Compiled:
        values = {field.attname: self._marker_value(field, index) for index, field in enumerate(self.fields)}
        marker = self.model(**values)
        query = self.build(marker).query
        if query.is_sliced:
            raise ValueError(f"{self.build!r} is sliced: slice with rows(low=, high=)")
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        positions = {}
        for field in self.fields:
            prepared = field.get_db_prep_value(values[field.attname], connection)
            positions[field.attname] = [index for index, param in enumerate(params) if param == prepared]
            if not positions[field.attname]:
                raise ValueError(f"{self.build!r} does not depend on the {self.model.__name__}'s {field.attname} it is given")
        columns = [selected[0] for selected in compiler.select[: compiler.col_count]]
        return _Compiled(sql=sql, params=tuple(params), positions=positions, converters=compiler.get_converters(columns))

    def rows(self, instance: Model, using: str = "default", *, low: int = 0, high: int | None = None) -> list[tuple[Any, ...]]:
        connection = connections[using]
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(connection.vendor, self._compile(connection))
        args = list(compiled.params)
        for field in self.fields:
            value = field.get_db_prep_value(getattr(instance, field.attname), connection)
            for index in compiled.positions[field.attname]:
                args[index] = value
        sql = compiled.sql
        if low or high is not None:
            sql = f"{sql} {connection.ops.limit_offset_sql(low, high)}"
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            rows = cursor.fetchall()
        if not compiled.converters:
            return rows
        return [self._converted(row, compiled.converters, connection) for row in rows]

    @staticmethod
    def _converted(row, converters, connection) -> tuple[Any, ...]:
        # What SQLCompiler.apply_converters does. The converters were taken from the compiling
        # connection's backend (its ops); the connection handed to them is this request's.
        values = list(row)
        for index, (functions, expression) in converters.items():
            value = values[index]
            for function in functions:
                value = function(value, expression, connection)
            values[index] = value
        return tuple(values)


def _attnames(model: type[Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


class CompiledInstance:
    """A model instance (with one forward-related instance loaded, as `select_related(related)` does) read through a CompiledQuery.

    `where(marker)` filters `model`'s default manager to at most one row by `marker`'s `fields`
    (the primary key unless named, as CompiledQuery); `get(instance)` returns that row as a model
    instance with every concrete field, its `related` object set from the same row, or None.
    """

    def __init__(self, model: type[Model], where: Callable[[Model], QuerySet], *, related: str | None = None, fields: tuple[str, ...] | None = None):
        self.model, self.related = model, related
        self.columns = _attnames(model)
        self.related_model = model._meta.get_field(related).related_model if related else None
        self.related_columns = _attnames(self.related_model) if related else []
        self.query = CompiledQuery(
            model, lambda marker: where(marker).values_list(*self.columns, *(f"{related}__{name}" for name in self.related_columns)), fields=fields
        )

    def get(self, instance: Model, using: str = "default") -> Model | None:
        rows = self.query.rows(instance, using)
        if not rows:
            return None
        split = len(self.columns)
        found = self.model.from_db(using, self.columns, rows[0][:split])
        if self.related:
            setattr(found, self.related, self.related_model.from_db(using, self.related_columns, rows[0][split:]))
        return found
