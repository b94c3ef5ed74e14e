"""A STOP at the door (issue 10): applied inside the webhook's request, on PostgreSQL in two plain
statements in one transaction (a new number: three), where the ORM path (inbound.py
`inbound_receive`) ran thirteen (a pending fan) to twenty (a new number).

Why: in the celebrity's second wave one text in twenty is a STOP, and through the ORM a STOP cost
the web process twelve to twenty times a plain text's CPU (bench/webhook_cpu.py): about a third of
the web's CPU in that wave went to the STOPs. What they must do has not changed, and nothing of
it waits: the fan is opted out, the consent record, the audit row and the outgoing webhook
(fan.opted_out) are written, pending join links and replies to the number are suppressed, the one
confirmation is queued on the compliance lane, all committed before Twilio gets its 200.

The rows are the ORM path's: each one is built by the function that path uses (`pending_fan`,
`consent_record`, `audit_event`, `priority_message`, `outbox.fan_event`) and prepared column by
column as Django prepares an insert (`pre_save`, `get_db_prep_save`); only the writing differs.
tests/messaging/webhooks/test_stop_door.py compares every column of both paths' rows, so a field
added to one of these models later cannot be left out here unnoticed.

The statements, in one transaction (and no `SELECT 1` health check before them: a dead
connection is reopened and the STOP run once more, see `inbound_stop`), each prepared once per
connection (`_PreparedCursor`, DATABASE_PREPARED_STATEMENTS; since the fifteenth session):
1. one statement of CTEs that stores the text (ON CONFLICT (message_sid) DO NOTHING: Twilio's retry
   of a stored STOP does nothing more), opts the fan out (an UPDATE, unless already opted out or
   erased) and reads what the rest needs: whether the sender is one of our own numbers (a STOP
   "from" one is a loop or a spoof: the ORM path ignores it, so the transaction is rolled back and
   the text goes that way), the current terms and privacy versions (the consent record points at
   them) and the talent's active endpoints (fan.opted_out's subscribers). Until the fourteenth
   session these were six statements (with the health check's), each a round trip: folded into
   one, a pending fan's STOP went from 2.1 to 1.3 ms of the web's CPU (bench/webhook_cpu.py);
2. where the UPDATE found no such row (a new number, or one gone already) an INSERT ... ON CONFLICT
   (talent, phone) DO UPDATE, which locks the row either way, so two STOPs from one number apply once;
3. one statement of writable CTEs: the record, the audit row, the outbox event and its deliveries,
   the suppression, the confirmation and the text's fan.
A fan opted out already gets only the suppression. SQLite keeps the ORM
path: it has no writable CTEs, and the embedded default never sees a burst.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.backends.utils import CursorDebugWrapper
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone
from psycopg import errors as psycopg_errors

from accounts import outbox, phones
from accounts.audit import audit_event
from accounts.integration_models import WebhookDelivery
from accounts.models import Fan, Talent
from accounts.services import pending_fan
from consent import texts
from consent.models import ConsentRecord
from consent.services import Evidence, consent_record, terms_current_sql, terms_ids_of
from messaging.conversations.inbound import InboundResult, _new_message, inbound_receive, our_numbers_sql
from messaging.conversations.priority import priority_lane_kick, priority_message, suppress_pending_sql
from messaging.sms.models import InboundMessage, OutboundMessage

log = logging.getLogger(__name__)
_GONE = (str(Fan.Status.OPTED_OUT), str(Fan.Status.ERASED))  # a STOP changes neither
_MESSAGING, _WITHDRAWN = ConsentRecord.Purpose.MESSAGING, ConsentRecord.Action.WITHDRAWN


def inbound_stop(
    *, talent: Talent, sid: str, from_number: str, body: str, payload: dict, language: str
) -> InboundResult:
    """Store a STOP once and apply it before the answer (rule 1 of consent/keywords.py), in the
    language of its wording for the confirmation. Returns as `inbound_receive` does."""
    if connection.vendor != "postgresql" or not phones.is_possible_e164(from_number):
        # The embedded default, and what the rules answer with nothing (a short code).
        return inbound_receive(talent=talent, sid=sid, from_number=from_number, body=body, payload=payload)
    # Django's health check (CONN_HEALTH_CHECKS) costs a `SELECT 1` round trip before the first
    # statement of every request, a tenth of a STOP's. The STOP runs without it and, when the kept
    # connection turns out dead (PostgreSQL restarted, a proxy cut it), once more on a fresh one, as
    # the texts' store does (store.py): its transaction rolled back whole, so running it again is
    # exact, and a STOP already committed is found stored and applied once. Inside a caller's
    # transaction there is nothing to retry on: the error is the caller's.
    retry = not connection.in_atomic_block
    while True:
        connection.health_check_done = True  # type: ignore[attr-defined]  # Django's flag: "checked in this request"
        ran_on = connection.connection
        try:
            result = _stop(
                talent=talent, sid=sid, from_number=from_number, body=body, payload=payload, language=language
            )
            break
        except DatabaseError as error:
            if _lost_prepared(error):
                # A pooler gave this transaction a server connection without our prepared statements
                # (or with another client's): the STOP's transaction (or savepoint) rolled back whole,
                # so it runs again, exactly, with client-bound statements, and so does every later one.
                _PREPARED["lost"] = True
                log.warning("prepared statements lost on the database connection (a pooler?): STOPs run unprepared")
                continue
            if not isinstance(error, OperationalError | InterfaceError):
                raise
            # The transaction's end drops a broken connection (and may open the next): the STOP's
            # own connection still there and answering means a real error, not a dead connection.
            alive = ran_on is not None and connection.connection is ran_on and connection.is_usable()
            if not retry or alive:
                raise
            retry = False
            connection.close()
    if result is None:  # "from" one of our own numbers: a loop or a spoof, stored and answered with nothing
        return inbound_receive(talent=talent, sid=sid, from_number=from_number, body=body, payload=payload)
    return result


def _lost_prepared(error: DatabaseError) -> bool:
    return isinstance(
        error.__cause__, psycopg_errors.InvalidSqlStatementName | psycopg_errors.DuplicatePreparedStatement
    )


class _PreparedCursor(psycopg.Cursor):
    """psycopg's server-binding cursor, each statement prepared: PostgreSQL parses and plans a STOP's
    two statements once per connection instead of at every STOP (pg_stat_statements in the
    celebrity bench: planning was 0.73 of their 1.4 ms; in process a STOP's PostgreSQL CPU 1.14 →
    0.81 ms and the web's 0.87 → 0.74 ms, fifteenth session). Django's own cursors bind on the
    client and never prepare, so nothing else changes."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


_PREPARED = {"lost": False}  # a pooler lost one: this process runs its STOPs unprepared from then on


def _cursor() -> Any:
    """The cursor a STOP's statements run on: prepared (DATABASE_PREPARED_STATEMENTS), wrapped as
    Django wraps its own (execute wrappers, the test suite's query capture), or Django's plain one."""
    if not settings.DATABASE_PREPARED_STATEMENTS or _PREPARED["lost"]:
        return connection.cursor()
    connection.ensure_connection()
    db = connection.connection
    if db.prepare_threshold is None:
        # Django leaves it None, which turns psycopg's preparing off for every cursor, prepare=True
        # too. A count no statement reaches: only a cursor that asks (this one) prepares; Django's
        # client-binding cursors never do, whatever the threshold.
        db.prepare_threshold = 2**31 - 1
    raw: Any = _PreparedCursor(db)
    # As Django's own cursor() wraps its cursors (BaseDatabaseWrapper._prepare_cursor).
    return _PreparedDebugWrapper(raw, connection) if connection.queries_logged else connection.make_cursor(raw)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Django's query log (DEBUG, the tests' CaptureQueriesContext) reads a statement's SQL back
    from psycopg's last query, which a prepared statement leaves unset: it logs the statement as
    written (placeholders and parameters) instead."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params, use_last_executed_query=False):
            return super(CursorDebugWrapper, self).execute(sql, params)


def _stop(
    *, talent: Talent, sid: str, from_number: str, body: str, payload: dict, language: str
) -> InboundResult | None:
    """inbound_stop's transaction; None (nothing written) for a text from one of our own numbers."""
    now = timezone.now()
    message = _new_message(talent=talent, sid=sid, from_number=from_number, body=body, payload=payload)
    message.action, message.processed_at, message.needs_reply = InboundMessage.Action.OPT_OUT, now, False
    table = Fan._meta.db_table
    with transaction.atomic(), _cursor() as cursor:
        # One statement for the text, the fan and everything the rest reads (see the module's doc).
        # The fan as the ORM path leaves it: a member or pending fan opted out now (the common case:
        # this UPDATE, no new row built), a stranger's wish recorded on a new row below (so an import
        # or a signup cannot text them first).
        ours_sql, ours_params = our_numbers_sql({from_number})
        text_sql, text_params = _insert(message)
        terms_sql, terms_params = terms_current_sql(talent_id=talent.pk)
        hooks_sql, hooks_params = outbox.endpoints_sql(talent.pk)
        cursor.execute(
            f"WITH o AS ({ours_sql}), m AS ({text_sql} ON CONFLICT (message_sid) DO NOTHING RETURNING id), "
            f"u AS (UPDATE {table} SET status = %s, opted_out_at = %s, updated_at = %s "  # noqa: S608 - table name
            "WHERE talent_id = %s AND phone = %s AND status NOT IN (%s, %s) "
            "AND EXISTS (SELECT 1 FROM m) AND NOT EXISTS (SELECT 1 FROM o) RETURNING id) "
            "SELECT EXISTS (SELECT 1 FROM o), (SELECT id FROM m), (SELECT id FROM u), "
            f"(SELECT json_agg(json_build_array(t.id, t.kind, t.talent_id, t.version)) FROM ({terms_sql}) t), "
            f"(SELECT json_agg(json_build_array(w.id, w.events) ORDER BY w.id) FROM ({hooks_sql}) w)",
            [
                *ours_params,
                *text_params,
                *(str(Fan.Status.OPTED_OUT), now, now, talent.pk, from_number, *_GONE),
                *terms_params,
                *hooks_params,
            ],
        )
        ours, message_id, fan_id, terms_rows, endpoint_rows = cursor.fetchone()
        if ours:
            transaction.set_rollback(True)  # the text goes through the rules' path instead
            return None
        if message_id is None:
            return InboundResult(message=None)  # this MessageSid is stored already: applied then
        message.pk = message_id
        row = (fan_id,) if fan_id is not None else None
        if row is None:  # a new number, or one opted out or erased already
            new = pending_fan(talent, from_number)
            new.status, new.opted_out_at = Fan.Status.OPTED_OUT, now
            sql, params = _insert(new)
            cursor.execute(
                sql + " ON CONFLICT (talent_id, phone) DO UPDATE SET status = EXCLUDED.status, "
                "opted_out_at = EXCLUDED.opted_out_at, updated_at = EXCLUDED.updated_at "
                f"WHERE {table}.status NOT IN (%s, %s) RETURNING id",
                [*params, *_GONE],
            )
            row = cursor.fetchone()
        changed = row is not None
        if row is None:  # opted out or erased already; ON CONFLICT locked the row: a fresh read sees it
            cursor.execute(f"SELECT id FROM {table} WHERE talent_id = %s AND phone = %s", [talent.pk, from_number])  # noqa: S608
            row = cursor.fetchone()
        fan = Fan(pk=row[0], talent=talent, status=Fan.Status.OPTED_OUT)
        # `fan` stands for the row by its id: the record, the audit and the event read only its id,
        # talent and (new) status, as fan_opt_out's do.
        message.fan_id = fan.pk

        ctes = [("s", suppress_pending_sql(fan_id=fan.pk))]  # a join link or reply waiting never follows
        endpoints: list[int] = []
        confirmation = None
        if changed:
            evidence = Evidence(method=ConsentRecord.Method.SMS_KEYWORD, evidence=sid)
            terms = terms_ids_of(_json(terms_rows))
            ctes.append(("r", _insert(consent_record(fan, _MESSAGING, _WITHDRAWN, evidence, terms=terms))))
            ctes.append(("a", _insert(audit_event("fan.opted_out", talent=talent, obj=fan, method=evidence.method))))
            event, endpoints = outbox.fan_event(
                fan,
                "fan.opted_out",
                endpoints=outbox.subscribers_of(_json(endpoint_rows), "fan.opted_out"),
                method=evidence.method,
                opted_out_at=outbox.iso(now),
            )
            if event is not None:
                ctes.append(("e", _returning(_insert(event))))
                ctes.append(("d", _deliveries(endpoints)))
            # The one confirmation (a second STOP gets none: Twilio would refuse it, 21610).
            confirmation = priority_message(
                talent=talent,
                fan=fan,
                to=from_number,
                body=texts.opt_out_confirmation(talent, language),
                lane=OutboundMessage.Lane.COMPLIANCE,
            )
            ctes.append(("c", _insert(confirmation)))
        sql = "WITH " + ", ".join(f"{name} AS ({part})" for name, (part, _) in ctes)
        sql += f" UPDATE {InboundMessage._meta.db_table} SET fan_id = %s WHERE id = %s"  # noqa: S608
        cursor.execute(sql, [p for _, (_, part_params) in ctes for p in part_params] + [fan.pk, message.pk])
        if confirmation is not None and confirmation.status == OutboundMessage.Status.PENDING:
            transaction.on_commit(lambda: priority_lane_kick(rules=False))
        outbox.kick_on_commit(endpoints)
    return InboundResult(message=message, action=InboundMessage.Action.OPT_OUT)


def _json(value: Any) -> list:
    """A json_agg column: NULL for no rows, text or decoded as the connection's loaders give it."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else value


def _columns(obj: Any, skip: tuple[str, ...] = ()) -> tuple[list[str], list[Any]]:
    """The columns and db-ready values an insert of `obj` writes, as Django's own insert prepares
    them (the primary key and columns left to their database default are left out)."""
    db = transaction.get_connection()  # the proxy `connection` costs a thread-local look-up a use
    columns, values = [], []
    for field, column in _fields(obj.__class__):
        if field.attname in skip:
            continue
        value = field.pre_save(obj, add=True)  # auto_now(_add) fields take their time here
        if isinstance(value, DatabaseDefault):
            continue
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"{field} holds an expression: the STOP's statement writes plain values")
        columns.append(column)
        values.append(field.get_db_prep_save(value, db))
    return columns, values


@functools.cache
def _fields(model: Any) -> list[tuple[Any, str]]:
    """A model's inserted fields (all concrete ones but the primary key), each with its quoted column."""
    quote = transaction.get_connection().ops.quote_name
    return [(f, quote(f.column)) for f in model._meta.local_concrete_fields if not f.primary_key]


def _insert(obj: Any) -> tuple[str, list[Any]]:
    columns, values = _columns(obj)
    placeholders = ", ".join(["%s"] * len(values))
    return f"INSERT INTO {obj._meta.db_table} ({', '.join(columns)}) VALUES ({placeholders})", values  # noqa: S608


def _returning(part: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    return part[0] + " RETURNING id", part[1]


def _deliveries(endpoints: list[int]) -> tuple[str, list[Any]]:
    """One WebhookDelivery of the event `e` (the CTE before) per endpoint, as bulk_create writes them."""
    template = WebhookDelivery(endpoint_id=0, event_id=0)
    columns, values = _columns(template, skip=("endpoint_id", "event_id"))
    kinds = {column: f.cast_db_type(connection) for f, column in _fields(WebhookDelivery)}
    fixed = ", ".join(f"CAST(%s AS {kinds[c]})" for c in columns)  # a SELECT's bare literal would be text
    sql = (
        f"INSERT INTO {WebhookDelivery._meta.db_table} (endpoint_id, event_id, {', '.join(columns)}) "  # noqa: S608
        f"SELECT u.endpoint, e.id, {fixed} FROM e, unnest(%s::bigint[]) AS u(endpoint)"
    )
    return sql, [*values, endpoints]
