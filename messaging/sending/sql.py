"""How the send engine talks to its database: operations written once, run through either door.

An operation is a generator that yields statements `(sql, params)` and receives each one's
`Result`; its return value is the operation's answer. It does no I/O itself, so the same code runs
- through Django's connection (`run_sync`: the sync services, the thread door, SQLite), and
- through a psycopg AsyncConnection on an event loop (`run_async`: the pipeline's PostgreSQL door).
The two drivers differ only in how they execute one statement. The SQL dialect (PostgreSQL arrays
and `unnest` vs SQLite `VALUES` lists and `IN (...)`) is chosen by the builders from a `Dialect`;
datetimes are adapted by the driver (SQLite stores naive UTC text; raw SQL bypasses the ORM) and
decoded by `as_datetime` (SQLite returns that text back).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

if TYPE_CHECKING:
    import psycopg

Statement = tuple[str, list]
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    rows: list[tuple]  # empty for a statement without a result set
    rowcount: int


Op = Generator[Statement, Result, T]


@dataclass(frozen=True)
class Dialect:
    vendor: str  # Django's connection.vendor: "postgresql", "sqlite", ...

    @property
    def pg(self) -> bool:
        return self.vendor == "postgresql"


POSTGRES = Dialect("postgresql")


def as_datetime(value: Any) -> dt.datetime | None:
    """A datetime column read by raw SQL: aware (PostgreSQL), or naive UTC, as text or parsed by
    the sqlite3 module's converters (SQLite)."""
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- builders (pure) ----------------------------------------------------------------------------
def in_ids(d: Dialect, column: str, ids: Sequence[int]) -> Statement:
    """`column` is one of `ids`: one array parameter on PostgreSQL, a list of them elsewhere."""
    if d.pg:
        return f"{column} = ANY(%s::bigint[])", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def values_sql(d: Dialect, rows: Sequence[tuple], casts: tuple[str, ...] = ()) -> Statement:
    """A VALUES list (columns column1..N on both PostgreSQL and SQLite) and its parameters."""
    cells = [f"CAST(%s AS {cast})" if cast and d.pg else "%s" for cast in casts[: len(rows[0])]]
    cells += ["%s"] * (len(rows[0]) - len(cells))
    row_sql = "(" + ", ".join(cells) + ")"
    return "VALUES " + ", ".join([row_sql] * len(rows)), [value for row in rows for value in row]


def update_rows(
    d: Dialect, table: str, sets: Statement, rows: Sequence[tuple], casts: tuple[str, ...], where: Statement = ("", [])
) -> Statement | None:
    """One UPDATE for many rows: row i gets the values rows[i] (v.column1 is its id, v.column2...
    the rest, usable in `sets`); `where` adds a condition. None when there are no rows.

    PostgreSQL: unnest() of one array per column, so a 500-row batch is a handful of parameters
    instead of 1,500 (client-side binding of a long VALUES list costs more than the query).
    SQLite: a VALUES list.
    """
    if not rows:
        return None
    if d.pg:
        names = ", ".join(f"column{i + 1}" for i in range(len(casts)))
        arrays = ", ".join(f"%s::{cast}[]" for cast in casts)
        source, source_params = f"unnest({arrays}) AS v({names})", [list(col) for col in zip(*rows, strict=True)]
    else:
        rows_sql, source_params = values_sql(d, rows, casts)
        source = f"({rows_sql}) AS v"
    where_sql, where_params = where
    extra = f" AND {where_sql}" if where_sql else ""
    sql = f"UPDATE {table} SET {sets[0]} FROM {source} WHERE {table}.id = v.column1{extra}"  # noqa: S608 - builders pass SQL constants
    return sql, [*sets[1], *source_params, *where_params]


def joined(parts: Sequence[str | Statement], sep: str = " ") -> Statement:
    """SQL fragments (plain text, or (sql, params)) joined in order, their parameters with them."""
    sql, params = [], []
    for part in parts:
        text, values = (part, []) if isinstance(part, str) else part
        sql.append(text)
        params.extend(values)
    return sep.join(sql), params


# --- drivers: the only place a statement is executed ---------------------------------------------
def _sync_params(params: list) -> list:
    # Django's SQLite adapter would write an aware datetime with its offset; the ORM stores naive UTC.
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(p) if isinstance(p, dt.datetime) else p for p in params]


def run_sync(op: Callable[Concatenate[Dialect, P], Op[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an operation on Django's connection, in one transaction (a savepoint if inside one)
    unless it is marked read_only."""
    gen = op(Dialect(connection.vendor), *args, **kwargs)
    atomic = transaction.atomic() if getattr(op, "atomic", True) else nullcontext()
    with atomic, connection.cursor() as cursor:
        try:
            sql, params = next(gen)
            while True:
                cursor.execute(sql, _sync_params(params))
                result = Result(cursor.fetchall() if cursor.description else [], cursor.rowcount)
                sql, params = gen.send(result)
        except StopIteration as done:
            return done.value


async def run_async(
    conn: psycopg.AsyncConnection,
    op: Callable[Concatenate[Dialect, P], Op[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run an operation on a psycopg async connection (autocommit, session time zone UTC); several
    statements run in one transaction, a lone read in none."""
    gen = op(POSTGRES, *args, **kwargs)
    try:
        sql, params = next(gen)
    except StopIteration as done:
        return done.value
    async with conn.transaction() if getattr(op, "atomic", True) else _no_transaction():
        try:
            while True:
                cursor = await conn.execute(sql, params)
                result = Result(await cursor.fetchall() if cursor.description else [], cursor.rowcount)
                sql, params = gen.send(result)
        except StopIteration as done:
            return done.value


class _no_transaction:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def read_only(op: Callable[P, T]) -> Callable[P, T]:
    """Mark an operation that is one read: the drivers then run it outside a transaction (on
    PostgreSQL BEGIN/COMMIT are two round trips; on SQLite, whose transactions here are IMMEDIATE,
    a transaction would take the write lock). STOP re-checks run every STOP_RECHECK_SECONDS."""
    op.atomic = False  # type: ignore[attr-defined]
    return op


__all__ = [
    "POSTGRES",
    "Dialect",
    "Op",
    "Result",
    "Statement",
    "as_datetime",
    "in_ids",
    "joined",
    "read_only",
    "run_async",
    "run_sync",
    "update_rows",
    "values_sql",
]
