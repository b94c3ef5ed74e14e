"""POST /webhooks/twilio/status/: Twilio's message status callbacks.

Validated with X-Twilio-Signature against PUBLIC_BASE_URL + the path and query Twilio called (never
the Host header, which a proxy rewrites). Processed inline rather than queued: the work is one
conditional UPDATE on an indexed column, cheaper than storing the payload and enqueuing a task,
and idempotent because statuses only move forward. Unknown sids get 200 so Twilio stops retrying.

Each link of a celebrity burst brings two callbacks (sent, delivered) to the same web processes that
take the texts, so on PostgreSQL the callbacks one process receives at the same moment share one
statement and one commit (the inbound store's group commit, messaging/conversations/store.py):
`UPDATE ... FROM (VALUES ...) ... RETURNING`, forward only, the outgoing webhook events written in
the same transaction. Durable as before: each callback is answered after the commit that holds it.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import outbox
from accounts.integration_models import WebhookEndpoint
from messaging.conversations.store import GroupStore
from messaging.models import OutboundMessage
from messaging.sending.engine import apply_error_effects
from messaging.sending.registration import note_status_callback
from messaging.sms.backends.base import SmsError
from messaging.sms.models import STATUS_RANK
from messaging.webhooks.signature import signature_is_valid

logger = logging.getLogger(__name__)
S = OutboundMessage.Status

# Twilio's MessageStatus -> our status. accepted/queued/sending add nothing to what the send
# recorded; read implies delivered; canceled is final.
TWILIO_STATUS = {
    "accepted": S.QUEUED,
    "scheduled": S.QUEUED,
    "queued": S.QUEUED,
    "sending": S.QUEUED,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "canceled": S.FAILED,
}


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    if not signature_is_valid(request):
        return HttpResponseForbidden("Invalid X-Twilio-Signature.")
    sid = request.POST.get("MessageSid", "").replace("\x00", "").strip()
    raw_status = request.POST.get("MessageStatus", "").strip().lower()
    if not sid or len(sid) > 64 or raw_status not in TWILIO_STATUS:
        return HttpResponseBadRequest("MessageSid and a known MessageStatus are required.")
    error_code = request.POST.get("ErrorCode", "").replace("\x00", "").strip()[:16]
    status, hint = TWILIO_STATUS[raw_status], _row_hint(request.GET.get("m"))
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Shared with the callbacks this process receives at the same moment: one statement, one commit.
        moved = STATUS_STORE.store([sid, hint, status, error_code])
        if moved is _ALONE:  # the group's statement failed: this callback on its own
            message_status_callback(sid=sid, status=status, error_code=error_code, row_hint=hint)
        elif moved is None:
            logger.info("status callback for unknown sid %s", sid)
        else:
            _after_commit(moved, status=status, error_code=error_code)
    else:
        message_status_callback(sid=sid, status=status, error_code=error_code, row_hint=hint)
    note_status_callback(sid=sid, error_code=error_code, post=request.POST)  # 30034 holds the sender back
    return HttpResponse(status=200)


def _row_hint(value: str | None) -> int | None:
    """Our row id from the StatusCallback URL's `m`: ASCII digits only ("²" is a digit to Python)."""
    if value and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


class Moved(NamedTuple):
    """A row a callback moved forward."""

    pk: int
    talent_id: int
    campaign_id: int | None
    fan_id: int | None
    to_number: str


def _after_commit(row: Moved, *, status: str, error_code: str) -> None:
    """A failure's effects (21610 opts the fan out, 30007 pauses the campaign), after the commit."""
    if error_code and status in (S.FAILED, S.UNDELIVERED):
        error = SmsError(f"status callback {status}", code=error_code, permanent=True)
        apply_error_effects(
            talent_id=row.talent_id, campaign_id=row.campaign_id, errors=[(row.fan_id, row.to_number, error)]
        )


def message_status_callback(*, sid: str, status: str, error_code: str = "", row_hint: str | int | None = None) -> bool:
    """Apply one callback. The `m` hint (our row id, put in the StatusCallback URL) finds a row
    whose sid the sender has not recorded yet, when the callback outruns the bulk write."""
    hint = row_hint if isinstance(row_hint, int) else _row_hint(row_hint)
    with transaction.atomic():
        row = OutboundMessage.objects.filter(provider_sid=sid).first()
        if row is None and hint is not None:
            row = OutboundMessage.objects.filter(pk=hint, provider_sid__isnull=True).first()
            if row is not None:
                OutboundMessage.objects.filter(pk=row.pk, provider_sid__isnull=True).update(provider_sid=sid)
        if row is None:
            logger.info("status callback for unknown sid %s", sid)
            return False
        moved = row.advance_status(status, error_code=error_code)
        if moved:  # outgoing webhooks (issue 16): only endpoints that asked for message.status get rows
            data = {"id": row.pk, "campaign_id": row.campaign_id, "fan_id": row.fan_id, "status": status}
            data["error_code"] = error_code
            outbox.webhook_emit(
                talent_id=row.talent_id, type="message.status", data={"message": data}, fan_id=row.fan_id
            )
    if moved:
        _after_commit(
            Moved(row.pk, row.talent_id, row.campaign_id, row.fan_id, row.to_number),
            status=status,
            error_code=error_code,
        )
    return moved


# --- the group path (PostgreSQL) ------------------------------------------------------------------
_ALONE = object()  # an item's result when its group failed: the thread applies it on its own
_TABLE = OutboundMessage._meta.db_table
_ENDPOINTS = WebhookEndpoint._meta.db_table
assert all(s.isidentifier() for s in STATUS_RANK)  # noqa: S101 - spliced into the SQL below as literals
_RANK = "CASE o.status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items()) + " ELSE 99 END"
_VALUE = "(%s, %s::bigint, %s, %s::int, %s)"
# What every statement below sets on a row it moves (from the callback's values `v` or `m`), and
# the test of whether the row's talent has an endpoint for message.status (outbox events then).
_MOVE = (
    "SET status = {v}.status, updated_at = now(), provider_sid = {v}.sid, "
    "error_code = CASE WHEN {v}.error_code <> '' THEN {v}.error_code ELSE o.error_code END "
)
_SUBSCRIBED = (
    f"EXISTS (SELECT 1 FROM {_ENDPOINTS} AS e WHERE e.talent_id = o.talent_id AND e.is_active "
    "AND e.events @> '[\"message.status\"]'::jsonb)"
)


def group_sql(rows: int) -> str:
    """One callback a row: found by sid, else (the sender has not recorded the sid yet) by the row
    hint, moved only forward, its sid kept; returns the moved rows and whether their talent has an
    endpoint for message.status (outbox events are written only then)."""
    values = ", ".join([_VALUE] * rows)
    return (
        f"WITH v (sid, hint, status, rank, error_code) AS (VALUES {values}) "  # noqa: S608 - constants
        f"UPDATE {_TABLE} AS o {_MOVE.format(v='v')}"
        "FROM v WHERE (o.provider_sid = v.sid OR (v.hint IS NOT NULL AND o.id = v.hint AND o.provider_sid IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {_TABLE} AS x WHERE x.provider_sid = v.sid))) AND {_RANK} < v.rank "
        f"RETURNING v.sid, o.id, o.talent_id, o.campaign_id, o.fan_id, o.to_number, {_SUBSCRIBED}"
    )


def _flush_statuses(group: list) -> None:
    """Apply a group's callbacks in one statement and one transaction (with their outbox events).
    Two callbacks for one message in a group (sent and delivered): the furthest wins, as it would
    in order; the other is a no-op, as it would be after it."""
    best: dict[str, object] = {}
    for item in group:
        sid, _, status, _ = item.params
        kept = best.get(sid)
        if kept is None or STATUS_RANK[status] > STATUS_RANK[kept.params[2]]:  # type: ignore[attr-defined]
            best[sid] = item
    chosen = list(best.values())
    try:
        moved, alone = _run_autocommit_group(chosen)
    except DatabaseError:
        logger.exception("status callbacks: a group of %d failed, applying them one by one", len(group))
        moved, alone = {}, {item.params[0] for item in group}
    for item in group:
        if item.params[0] in alone:
            item.result = _ALONE
        else:
            item.result = moved.get(item.params[0]) if best[item.params[0]] is item else None


def _run_group(sql: str, params: list, chosen: list) -> dict[str, Moved]:
    # The per-request health check is a SELECT 1 round trip; the statement is idempotent (forward
    # only), so a connection that died is reopened and the group runs once more.
    connection.health_check_done = True  # type: ignore[attr-defined]  # Django's own flag
    try:
        return _update(sql, params, chosen)
    except (OperationalError, InterfaceError):
        if connection.connection is not None and connection.is_usable():
            raise
    connection.close()
    return _update(sql, params, chosen)


def _update(sql: str, params: list, chosen: list) -> dict[str, Moved]:
    by_sid = {item.params[0]: item for item in chosen}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        moved: dict[str, Moved] = {}
        for sid, pk, talent_id, campaign_id, fan_id, to_number, subscribed in cursor.fetchall():
            moved[sid] = Moved(pk, talent_id, campaign_id, fan_id, to_number)
            if subscribed:  # outgoing webhooks (issue 16): only endpoints that asked for message.status
                status, error_code = by_sid[sid].params[2], by_sid[sid].params[3]
                data = {"id": pk, "campaign_id": campaign_id, "fan_id": fan_id, "status": status}
                data["error_code"] = error_code
                outbox.webhook_emit(talent_id=talent_id, type="message.status", data={"message": data}, fan_id=fan_id)
    return moved


# --- one statement in autocommit (issue 10, fifth session) ----------------------------------------
# A callback's group was BEGIN, UPDATE, COMMIT: three round trips, and Django's atomic() around
# them, about a fifth of a callback's CPU (web and PostgreSQL). Most talents have no endpoint for
# message.status, so there is no outbox event to commit with the move: one statement in autocommit
# moves those rows (a single statement is its own transaction, committed durably before the
# answer), and says which matched rows belong to a subscribed talent; only those go through the
# transaction above, with their events. The UPDATE repeats the forward-only and sid conditions on
# the row itself, so a row another callback moved meanwhile is re-checked on its newest version.
def autocommit_sql(rows: int) -> str:
    values = ", ".join([_VALUE] * rows)
    return (
        f"WITH v (sid, hint, status, rank, error_code) AS (VALUES {values}), "  # noqa: S608 - constants
        "m AS (SELECT v.sid, v.status, v.rank, v.error_code, o.id, o.talent_id, o.campaign_id, o.fan_id, "
        f"o.to_number, {_SUBSCRIBED} AS subscribed FROM v JOIN {_TABLE} AS o ON "
        "(o.provider_sid = v.sid OR (v.hint IS NOT NULL AND o.id = v.hint AND o.provider_sid IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {_TABLE} AS x WHERE x.provider_sid = v.sid))) WHERE {_RANK} < v.rank), "
        f"u AS (UPDATE {_TABLE} AS o {_MOVE.format(v='m')}"
        f"FROM m WHERE o.id = m.id AND NOT m.subscribed AND {_RANK} < m.rank "
        "AND (o.provider_sid = m.sid OR o.provider_sid IS NULL) RETURNING o.id) "
        "SELECT m.sid, m.id, m.talent_id, m.campaign_id, m.fan_id, m.to_number, m.subscribed, u.id IS NOT NULL "
        "FROM m LEFT JOIN u ON u.id = m.id"
    )


# --- the common case first: our row by its hint (issue 10, seventh session) ------------------------
# Every callback of ours carries its row's id (`?m=`), and in a burst most arrive before the lane has
# recorded the sid. The statement above finds a row by sid OR by hint, which PostgreSQL plans
# afresh each time (~0.5-0.8 ms, more than it takes to run): half a callback's database CPU. This one
# finds the row by its primary key alone, moves it forward if its sid is unset or the same and its
# talent has no message.status endpoint, and names what it moved; whatever it did not move (no
# hint, a sid already on another row, a talent with an endpoint, a callback that moves nothing) goes
# through the full statement as before, so every outcome is the one the full statement gives.
def hinted_sql(rows: int) -> str:
    values = ", ".join([_VALUE] * rows)
    return (
        f"UPDATE {_TABLE} AS o {_MOVE.format(v='v')}"  # noqa: S608 - constants
        f"FROM (VALUES {values}) AS v (sid, hint, status, rank, error_code) "
        f"WHERE o.id = v.hint AND (o.provider_sid = v.sid OR o.provider_sid IS NULL) AND {_RANK} < v.rank "
        f"AND NOT {_SUBSCRIBED} "
        "RETURNING v.sid, o.id, o.talent_id, o.campaign_id, o.fan_id, o.to_number"
    )


def _values(items: list) -> list:
    return [p for item in items for p in (*item.params[:3], STATUS_RANK[item.params[2]], item.params[3])]


def _run_autocommit_group(chosen: list) -> tuple[dict[str, Moved], set[str]]:
    """The group's moves, and the sids to apply alone (the subscribed talents' rows, when their
    transaction failed: the other rows are committed already and keep their outcome and effects)."""
    if connection.in_atomic_block:  # a caller's transaction: the statement would not commit alone
        return _run_group(group_sql(len(chosen)), _values(chosen), chosen), set()
    moved: dict[str, Moved] = {}
    hinted = [item for item in chosen if item.params[1] is not None]
    if hinted:
        try:
            for sid, pk, talent_id, campaign_id, fan_id, to_number in _execute_group(
                hinted_sql(len(hinted)), _values(hinted)
            ):
                moved[sid] = Moved(pk, talent_id, campaign_id, fan_id, to_number)
        except IntegrityError:  # the sid is on another row already: the full statement decides
            moved = {}
        chosen = [item for item in chosen if item.params[0] not in moved]
        if not chosen:
            return moved, set()
    subscribed = []
    by_sid = {item.params[0]: item for item in chosen}
    for sid, pk, talent_id, campaign_id, fan_id, to_number, has_endpoint, updated in _execute_group(
        autocommit_sql(len(chosen)), _values(chosen)
    ):
        if updated:
            moved[sid] = Moved(pk, talent_id, campaign_id, fan_id, to_number)
        elif has_endpoint:
            subscribed.append(by_sid[sid])
    if subscribed:
        try:
            moved.update(_run_group(group_sql(len(subscribed)), _values(subscribed), subscribed))
        except DatabaseError:
            logger.exception("status callbacks: %d of a group failed, applying them one by one", len(subscribed))
            return moved, {item.params[0] for item in subscribed}
    return moved, set()


def _execute_group(sql: str, params: list) -> list:
    # As _run_group: no per-request health check; a dead connection reopened once (forward only,
    # so running the statement again is safe).
    connection.health_check_done = True  # type: ignore[attr-defined]  # Django's own flag
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    except (OperationalError, InterfaceError):
        if connection.connection is not None and connection.is_usable():
            raise
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


STATUS_STORE = GroupStore(_flush_statuses)
