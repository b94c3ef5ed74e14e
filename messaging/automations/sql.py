"""One-statement writes the join path needs under a burst (PostgreSQL and SQLite 3.35+ alike).

A savepoint + INSERT + release is three round trips; `INSERT ... ON CONFLICT DO NOTHING RETURNING`
is one, and says whether the row is new without an IntegrityError to catch.
"""

from __future__ import annotations

from typing import Any

from django.db import connection


def insert_new(model, values: dict[str, Any], conflict: list[str]) -> int | None:
    """Insert a row unless one with the same `conflict` columns exists; the new id, or None."""
    table = model._meta.db_table
    columns = list(values)
    names = ", ".join(model._meta.get_field(c).column for c in columns)
    keys = ", ".join(model._meta.get_field(c).column for c in conflict)
    sql = (
        f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608 - model metadata
        f"ON CONFLICT ({keys}) DO NOTHING RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [values[c] for c in columns])
        row = cursor.fetchone()
    return row[0] if row else None


def claim_free_code(*, drop_id: int, fan_id: int, now) -> str | None:
    """Bind the drop's next free code to the fan in one statement; its text, or None if none is free.

    PostgreSQL: the inner SELECT takes the first free row no other transaction holds (FOR UPDATE
    SKIP LOCKED), so concurrent joins take different codes without waiting on each other. SQLite
    has one writer at a time, which gives the same result. The outer `fan_id IS NULL` re-check
    makes the binding conditional either way: a code is never given twice.
    """
    from messaging.automations.drop_models import DropCode

    table = DropCode._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {table} SET fan_id = %s, assigned_at = %s WHERE fan_id IS NULL AND id = ("  # noqa: S608
        f"SELECT id FROM {table} WHERE drop_id = %s AND fan_id IS NULL AND id > %s ORDER BY id LIMIT 1{lock}) "
        "RETURNING id, code"
    )
    # Codes go out in id order, so the free ones lie past the last this process took: start there
    # (the index entries of taken codes stay until VACUUM, and walking 200,000 of them per join
    # would make the burst quadratic). Nothing past it: look again from the start, so a code freed
    # by a rolled-back join is still found and "none left" is only said when none is.
    for start in (_LAST_TAKEN.get(drop_id, 0), 0):
        with connection.cursor() as cursor:
            cursor.execute(sql, [fan_id, now, drop_id, start])
            row = cursor.fetchone()
        if row:
            _LAST_TAKEN[drop_id] = row[0]
            return row[1]
        if start == 0:
            break
    return None


_LAST_TAKEN: dict[int, int] = {}  # drop id -> id of the last code this process bound (a hint only)


# --- a chunk's joins in a few statements (drop_joins.py) --------------------------------------------
def insert_many_new(model, columns: list[str], rows: list[tuple], conflict: list[str], returning: str) -> dict:
    """Insert rows unless one with the same `conflict` columns exists: {returning column: new id}
    of the rows made. One statement (multi-row VALUES ... ON CONFLICT DO NOTHING RETURNING)."""
    if not rows:
        return {}
    table = model._meta.db_table
    names = ", ".join(model._meta.get_field(c).column for c in columns)
    keys = ", ".join(model._meta.get_field(c).column for c in conflict)
    back = model._meta.get_field(returning).column
    if connection.vendor == "postgresql":
        # As insert_like: one array per column, a short statement psycopg parses once.
        fields = [model._meta.get_field(c) for c in columns]
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        sql = (
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608 - model metadata
            f"ON CONFLICT ({keys}) DO NOTHING RETURNING id, {back}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [[row[i] for row in rows] for i in range(len(columns))])
            return {key: row_id for row_id, key in cursor.fetchall()}
    cell = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {table} ({names}) VALUES {', '.join([cell] * len(rows))} "  # noqa: S608 - model metadata
        f"ON CONFLICT ({keys}) DO NOTHING RETURNING id, {back}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        return {key: row_id for row_id, key in cursor.fetchall()}


def set_once(model, column: str, ids: list[int], value) -> set[int]:
    """SET column = value on the rows of `ids` where it is still NULL; the ids it set (so two
    callers at once never both think they did)."""
    if not ids:
        return set()
    table = model._meta.db_table
    sql = (
        f"UPDATE {table} SET {column} = %s WHERE id IN ({', '.join(['%s'] * len(ids))}) "  # noqa: S608
        f"AND {column} IS NULL RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value, *ids])
        return {row[0] for row in cursor.fetchall()}


def claim_free_codes(*, drop_id: int, fan_ids: list[int], now) -> dict[int, str]:
    """Bind one free code to each of `fan_ids` (in order, while codes last): {fan id: code}.

    PostgreSQL: one statement for the whole chunk. The free rows are locked with FOR UPDATE SKIP
    LOCKED (another chunk's joins take other rows and neither waits), numbered, and paired with the
    fans by position; the `fan_id IS NULL` re-check and the partial unique (drop, fan) constraint
    keep a code to one fan and a fan to one code whatever happens. Elsewhere (SQLite, one writer at
    a time): the one-fan statement per fan.
    """
    if not fan_ids:
        return {}
    if connection.vendor != "postgresql":
        found: dict[int, str] = {}
        for fan_id in fan_ids:
            code = claim_free_code(drop_id=drop_id, fan_id=fan_id, now=now)
            if code is None:
                break
            found[fan_id] = code
        return found
    from messaging.automations.drop_models import DropCode

    table = DropCode._meta.db_table
    sql = (
        f"WITH free AS (SELECT id FROM {table} WHERE drop_id = %s AND fan_id IS NULL AND id > %s "  # noqa: S608
        "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED), "
        "numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM free), "
        "wanted AS (SELECT w.fan_id, w.n FROM unnest(%s::bigint[]) WITH ORDINALITY AS w(fan_id, n)) "
        f"UPDATE {table} SET fan_id = wanted.fan_id, assigned_at = %s "
        f"FROM numbered JOIN wanted ON wanted.n = numbered.n "
        f"WHERE {table}.id = numbered.id AND {table}.fan_id IS NULL RETURNING {table}.id, {table}.fan_id, {table}.code"
    )
    found = {}
    left = list(fan_ids)
    # As claim_free_code: past the last code this process took first, then once from the start.
    for start in (_LAST_TAKEN.get(drop_id, 0), 0):
        with connection.cursor() as cursor:
            cursor.execute(sql, [drop_id, start, len(left), left, now])
            rows = cursor.fetchall()
        for code_id, fan_id, code in rows:
            found[fan_id] = code
            _LAST_TAKEN[drop_id] = max(_LAST_TAKEN.get(drop_id, 0), code_id)
        left = [f for f in left if f not in found]
        if not left or start == 0:
            break
    return found


def active_numbers(fan_ids: list[int]) -> dict[int, str]:
    """{fan id: number} of those fans who are active now. The number as stored (E.164): a
    PhoneNumber's str() validates it again, a millisecond a fan in a burst."""
    if not fan_ids:
        return {}
    from accounts.models import Fan

    sql = (
        f"SELECT id, phone FROM {Fan._meta.db_table} WHERE id IN ({', '.join(['%s'] * len(fan_ids))}) "  # noqa: S608
        "AND status = %s AND phone IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*fan_ids, str(Fan.Status.ACTIVE)])
        return {fan_id: phone for fan_id, phone in cursor.fetchall() if phone}


def insert_like(template, varying: list[str], rows: list[tuple]) -> int:
    """Insert one row per tuple of `rows`: every column as saving `template` would write it (its
    defaults, its auto_now times), the `varying` columns (attnames) from the tuple, db-ready
    values. Multi-row INSERTs, no model per row: `bulk_create` builds, validates and compiles a
    model and each of its fields per row, which was most of a drop burst's confirmation cost.
    Returns how many rows were inserted. No conflict handling: for rows that cannot collide."""
    if not rows:
        return 0
    model = type(template)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    fixed = {f.attname: f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields}
    columns = [f.attname for f in fields]
    at = {name: varying.index(name) for name in varying}
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    if connection.vendor == "postgresql":
        # One array per varying column (unnest): a short statement psycopg parses once and
        # caches, where 100 rows of VALUES placeholders were parsed again every chunk.
        types = {f.attname: f.db_type(connection) for f in fields}
        select = ", ".join(f"u.{c}" if c in at else f"%s::{types[c]}" for c in columns)
        arrays = ", ".join(f"%s::{types[c]}[]" for c in varying)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {model._meta.db_table} ({names}) SELECT {select} "  # noqa: S608 - model metadata
                f"FROM unnest({arrays}) AS u({', '.join(varying)})",
                [fixed[c] for c in columns if c not in at] + [[row[at[c]] for row in rows] for c in varying],
            )
        return len(rows)
    cell = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, 30_000 // len(columns))  # SQLite's bound parameters, PostgreSQL's 65,535
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [row[at[c]] if c in at else fixed[c] for row in chunk for c in columns]
            cursor.execute(
                f"INSERT INTO {model._meta.db_table} ({names}) VALUES {', '.join([cell] * len(chunk))}",  # noqa: S608
                params,
            )
    return len(rows)
