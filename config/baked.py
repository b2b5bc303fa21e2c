"""Hot reads whose SQL the ORM builds once per process ("baked" queries).

Building a query is most of what a small read costs in Django: on this project's pages a
query that PostgreSQL answers in a tenth of a millisecond took half a millisecond or more of
the ORM's time to put together (filters, joins, subqueries, compiling), on every request,
for SQL that only differs in its values. :class:`Baked` lets the ORM write the SQL once and
then runs it with each request's values, as SQLAlchemy's baked queries do.

The query is written as usual, as a function of its values::

    INVITED = Baked(
        lambda user_id, now: Invitation.objects.filter(...).values_list("group_id"),
        user_id=int,
        now=datetime,
    )
    rows = INVITED.rows(user_id=7, now=timezone.now())

``rows()`` gives a ``values_list`` query's tuples; ``objects()`` gives a model query's
instances, with its annotations and ``select_related`` objects, as iterating it would.

The first call builds the queryset twice, with two different made-up values for every
argument, and compiles both. The SQL must come out the same and the parameters must differ
exactly where an argument went in, unchanged; anything else (an argument the ORM transformed,
as ``__contains`` wraps it in ``%``; a value that changes the SQL's shape, as a list does for
``__in``) is refused with an error on that first call, so a query that cannot be baked is
found by the first test that runs it, never answered wrongly. Values are always sent as
parameters, never written into the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import (  # type: ignore[attr-defined]
    ModelIterable,
    get_related_populators,
)


class CannotBake(TypeError):
    """The query's SQL depends on its values in a way a baked query cannot replay."""


_FIRST = datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)


def _stand_ins(kind: type, n: int) -> tuple[Any, Any]:
    """Two values of ``kind`` that no query could have as constants."""
    if kind is int:
        return -1_000_000_007 - n, -2_000_000_011 - n
    if kind is str:
        return f"\x01baked-a-{n}\x01", f"\x01baked-b-{n}\x01"
    if kind is datetime:
        return _FIRST + timedelta(seconds=n), _FIRST + timedelta(days=1, seconds=n)
    raise CannotBake(f"a baked query takes int, str or datetime values, not {kind.__name__}")


class Baked:
    """A read whose SQL the ORM builds once per process (see the module).

    ``build`` takes the arguments named in ``kinds`` (each ``int``, ``str`` or an aware
    ``datetime``) and returns a queryset: a ``values_list`` one for ``rows()``, a model one
    for ``objects()``. It must not look at its arguments other than by passing them to the
    ORM (no ``if``): it runs only with made-up values.
    """

    def __init__(self, build: Callable[..., QuerySet[Any, Any]], **kinds: type) -> None:
        self._build = build
        self._kinds = kinds
        # Set in one assignment, so that a thread never sees half of it.
        self._baked: _Recipe | None = None

    def _bake(self) -> _Recipe:
        names = list(self._kinds)
        first, second = {}, {}
        for n, name in enumerate(names):
            first[name], second[name] = _stand_ins(self._kinds[name], n)
        compiled = []
        for values in (first, second):
            queryset = self._build(**values)
            if getattr(queryset, "_prefetch_related_lookups", ()):
                raise CannotBake("prefetch_related runs queries of its own")
            compiler = queryset.query.get_compiler(using=queryset.db)
            sql, params = compiler.as_sql()
            compiled.append((sql, list(params), queryset.db, compiler, queryset._iterable_class))
        (sql_a, params_a, using, compiler, iterable), (sql_b, params_b, *_) = compiled
        if sql_a != sql_b or len(params_a) != len(params_b):
            raise CannotBake("the query's SQL changes with its values")
        by_value = {first[name]: name for name in names}
        slots: list[tuple[int, str]] = []
        for position, (a, b) in enumerate(zip(params_a, params_b, strict=True)):
            if a == b:
                continue
            argument = by_value.get(a)
            if argument is None or second[argument] != b:
                raise CannotBake(f"parameter {position} is a value the ORM changed")
            slots.append((position, argument))
        missing = set(names) - {name for _, name in slots}
        if missing:
            raise CannotBake(f"arguments the query does not use: {', '.join(sorted(missing))}")
        selected = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = [
            (position, (tuple(functions), expression))
            for position, (functions, expression) in compiler.get_converters(selected).items()
        ]
        instances = _instances(compiler, using) if iterable is ModelIterable else None
        return _Recipe(sql_a, slots, params_a, using, converters, instances)

    def _statement(self, values: dict[str, Any]) -> tuple[_Recipe, list[Any]]:
        """The recipe, and its parameters with ``values`` in place (checked)."""
        if values.keys() != self._kinds.keys():
            raise TypeError(f"expected the values {', '.join(self._kinds)}")
        for name, value in values.items():
            kind = self._kinds[name]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TypeError(f"{name} must be {kind.__name__}")
            if isinstance(value, datetime) and value.utcoffset() is None:
                raise TypeError(f"{name} must be an aware datetime")
        if self._baked is None:
            self._baked = self._bake()
        recipe = self._baked
        params = list(recipe.constants)
        for position, name in recipe.slots:
            params[position] = values[name]
        return recipe, params

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        """The query's rows (tuples, in the order of its ``values_list``) for ``values``."""
        recipe, params = self._statement(values)
        connection = connections[recipe.using]
        with connection.cursor() as cursor:
            cursor.execute(recipe.sql, params)
            rows = cursor.fetchall()
        return _converted(recipe, rows, connection)

    def objects(self, **values: Any) -> list[Any]:
        """A model query's instances for ``values``, as iterating the queryset gives them."""
        return self._made(self.rows(**values))

    def _made(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        assert self._baked is not None
        make = self._baked.instances
        if make is None:
            raise CannotBake("objects() needs a query of model instances (not values_list)")
        return [make(row) for row in rows]


class Read(NamedTuple):
    """One baked read of several sent together (``together``): ``rows`` or ``objects``."""

    baked: Baked
    values: dict[str, Any]
    objects: bool = False


def rows_of(baked: Baked, **values: Any) -> Read:
    return Read(baked, values)


def objects_of(baked: Baked, **values: Any) -> Read:
    return Read(baked, values, objects=True)


def together(*reads: Read) -> list[list[Any]]:
    """Several baked reads in one round trip to PostgreSQL, each answer as ``rows()`` or
    ``objects()`` would give it, in order.

    The statements go in one pipeline (psycopg's pipeline mode): sent one after the other
    without waiting, answered together, in one implicit transaction, so they also read one
    snapshot of the database. Each is still a query of its own to Django (its cursor, the
    query log and the tests' query counts see every one). A page that made four reads waited
    for four answers and, under load, gave up the interpreter four times while it waited;
    now once."""
    statements = [read.baked._statement(read.values) for read in reads]
    using = {recipe.using for recipe, _ in statements}
    if len(using) != 1:
        raise ValueError("reads sent together must use one database")
    connection = connections[using.pop()]
    connection.ensure_connection()
    cursors = [connection.cursor() for _ in statements]
    try:
        with connection.connection.pipeline():
            for cursor, (recipe, params) in zip(cursors, statements, strict=True):
                cursor.execute(recipe.sql, params)
        answers = []
        for read, cursor, (recipe, _) in zip(reads, cursors, statements, strict=True):
            rows = _converted(recipe, cursor.fetchall(), connection)
            answers.append(read.baked._made(rows) if read.objects else rows)
        return answers
    finally:
        for cursor in cursors:
            cursor.close()


def _converted(recipe: _Recipe, rows: list[tuple[Any, ...]], connection: Any) -> list[Any]:
    """What the compiler's apply_converters does (from_db_value, an expression's int()), with
    this thread's connection."""
    if not recipe.converters:
        return rows
    converted = []
    for row in rows:
        values_read = list(row)
        for position, (functions, expression) in recipe.converters:
            value = values_read[position]
            for convert in functions:
                value = convert(value, expression, connection)
            values_read[position] = value
        converted.append(tuple(values_read))
    return converted


class _Recipe(NamedTuple):
    sql: str
    slots: list[tuple[int, str]]  # (position in the parameters, the argument that goes there)
    constants: list[Any]  # the parameters, with the constants of the query in place
    using: str
    converters: list[tuple[int, tuple[tuple[Any, ...], Any]]]  # position, (functions, expression)
    instances: Callable[[tuple[Any, ...]], Model] | None


def _instances(compiler: Any, using: str) -> Callable[[tuple[Any, ...]], Model]:
    """How Django's ModelIterable makes an instance of a row of this compiled query."""
    klass_info = compiler.klass_info
    select, annotations = compiler.select, dict(compiler.annotation_col_map)
    model = klass_info["model"]
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    names = [column[0].target.attname for column in select[start:end]]
    related = get_related_populators(klass_info, select, using)

    def make(row: tuple[Any, ...]) -> Model:
        instance = model.from_db(using, names, row[start:end])
        for populator in related:
            populator.populate(row, instance)
        for name, position in annotations.items():
            setattr(instance, name, row[position])
        return instance

    return make
