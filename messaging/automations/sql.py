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
