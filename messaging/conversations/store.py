"""The webhook's store on PostgreSQL: group commit for the texts of one web process.

In a celebrity burst every web thread runs the same `INSERT ... ON CONFLICT DO NOTHING`, each
with its own round trip, statement and commit. Here the threads of one process that store at the
same moment share one multi-row INSERT (one commit): the first to arrive leads, takes every row
waiting, runs the statement on its own connection and wakes the others; whoever arrived while it
ran waits for the next leader, chosen among them as the leader finishes (a leader flushes one
group only, so nobody's answer is held back by a stream of later texts).

Durability is unchanged: every thread answers Twilio only after the commit that holds its row
(`synchronous_commit` stays on). A group that fails is retried row by row, so one bad row never
costs its neighbours their answer; a dead connection (PostgreSQL restarted) is reopened once.
"""

from __future__ import annotations

import threading
from _thread import allocate_lock
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection

from messaging.sms.models import InboundMessage

MAX_GROUP = 100  # rows per statement; a burst's groups are a handful (threads per process)

_COLUMNS = "(talent_id, message_sid, from_number, to_number, body, payload, received_at, action, needs_reply)"
_ROW = "(%s, %s, %s, %s, %s, %s::jsonb, now(), '', false)"
_PREFIX = f"INSERT INTO {InboundMessage._meta.db_table} {_COLUMNS} VALUES "  # noqa: S608 - a constant table name
_SUFFIX = " ON CONFLICT (message_sid) DO NOTHING"


def insert_sql(rows: int) -> str:
    return _PREFIX + ", ".join([_ROW] * rows) + _SUFFIX


def _closed_gate() -> Any:
    gate = allocate_lock()
    gate.acquire()
    return gate


@dataclass(eq=False)
class _Waiting:
    params: list
    # Held from the start; released once, by the thread that stored this row or handed this
    # thread the next group to lead. A bare lock, not a threading.Event: an Event is a Condition
    # (a lock, a waiter list and a fresh lock every wait): 8 us to make, set and wait against 0.4.
    gate: Any = field(default_factory=_closed_gate)
    stored: bool = False  # False when released: woken to lead the next group
    error: BaseException | None = None
    result: Any = None  # what the flush says about this item (the status callbacks' outcome)


class GroupStore:
    """One per process. store() returns once the row is committed (with what the flush set as
    its result), or raises its error. `flush` runs one group on the leader's connection and sets
    each item's error or result; the inbound texts' INSERT by default."""

    def __init__(self, flush: Callable[[list[_Waiting]], None] | None = None) -> None:
        self._flush = flush  # None: the module's _flush, looked up at each group
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._leading = False
        self.groups = 0  # statements run, and rows stored through them (the tests read these)
        self.rows = 0

    def store(self, params: list) -> Any:
        me = _Waiting(params)
        with self._lock:
            self._waiting.append(me)
            lead = not self._leading
            self._leading = True
        if not lead:
            me.gate.acquire()  # until our row is stored, or the previous leader hands us the next group
            lead = not me.stored
        if lead:
            self._lead(me)
        if me.error is not None:
            raise me.error
        return me.result

    def _lead(self, me: _Waiting) -> None:
        with self._lock:  # the leader's own row is first: it was alone, or the successor handed over
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
        try:
            (self._flush or _flush)(group)
        except BaseException as exc:  # no waiter may answer 200 for a row that may not be stored
            for item in group:
                item.error = item.error or exc
        finally:
            self.groups += 1
            self.rows += len(group)
            with self._lock:
                successor = self._waiting[0] if self._waiting else None
                self._leading = successor is not None
            # The successor first: it is first in line for the GIL, so the next statement starts
            # while this group's threads write their answers.
            if successor is not None:
                successor.gate.release()
            for item in group:
                item.stored = True
                if item is not me:
                    item.gate.release()


def _flush(group: list[_Waiting]) -> None:
    """Run one group's INSERT; on failure each row alone, so each thread gets its own outcome."""
    try:
        _execute(insert_sql(len(group)), [value for item in group for value in item.params])
        return
    except DatabaseError as exc:
        if len(group) == 1:
            group[0].error = exc
            return
    for item in group:
        try:
            _execute(insert_sql(1), item.params)
        except DatabaseError as exc:
            item.error = exc


def _execute(sql: str, params: list, *, fetch: bool = False) -> list | None:
    """Run without the per-request connection health check, reconnecting once if needed.

    CONN_HEALTH_CHECKS costs a `SELECT 1` round trip at the first query of every request: a third
    of the webhook's time in a burst. The store is idempotent (ON CONFLICT DO NOTHING), so it runs on
    the kept connection unchecked and, if that connection died (PostgreSQL restarted, a proxy cut
    it), it is closed, opened afresh, and the statement runs once more.
    """
    connection.health_check_done = True  # type: ignore[attr-defined]  # Django's own flag: "checked in this request"
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if fetch else None
    except (OperationalError, InterfaceError):
        if connection.connection is not None and connection.is_usable():
            raise  # the database answers: a real error, not a dead connection
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if fetch else None


STORE = GroupStore()
