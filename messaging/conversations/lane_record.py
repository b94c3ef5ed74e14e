"""The priority lane's record of a batch (messaging/conversations/priority.py sends it): each row's
outcome written in bulk, never moving a status back, and the provider error's effects; plus the
benchmark's log of each send call (settings.PRIORITY_LANE_SEND_LOG)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from django.db import connection

from messaging.sending.engine import apply_error_effects
from messaging.sending.pacing import count_lane_parts
from messaging.sms.backends import SmsError
from messaging.sms.models import STATUS_RANK, OutboundMessage


class _Row(Protocol):
    """What the record reads of a sent row (priority.py's _Row; a protocol, so no import cycle)."""

    message: OutboundMessage
    result_sid: str
    result_parts: int | None
    error: SmsError | None
    suppressed: bool
    paced_at: float
    slot_at: float
    called_at: tuple[float, float] | None


S = OutboundMessage.Status
_MAX_ATTEMPTS = 3


def _record(rows: Sequence[_Row], now: dt.datetime) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    changed: list[OutboundMessage] = []
    effects: dict[int, list] = defaultdict(list)
    for row in rows:
        message = row.message
        message.lease_until = None
        message.updated_at = now
        if row.suppressed:
            message.status, message.error_message = S.SUPPRESSED, "the fan opted out before it left"
        elif row.error is None:
            message.status, message.provider_sid, message.sent_at = S.QUEUED, row.result_sid, now
            message.parts = row.result_parts or message.parts
        elif row.error.uncertain:
            message.status = S.UNCERTAIN  # the provider may have it: reconciled by a person, never resent
        elif row.error.permanent or message.attempts >= _MAX_ATTEMPTS:
            message.status = S.FAILED
            effects[message.talent_id].append((message.fan_id, message.to_number, row.error))
        else:
            message.status = S.PENDING  # throttled or unreachable: nothing was created, try again soon
            message.not_before = now + dt.timedelta(seconds=2**message.attempts)
        if row.error is not None:
            message.error_code, message.error_message = row.error.code[:16], str(row.error)[:300]
        counts[message.status] += 1
        changed.append(message)
    _save_outcomes(changed, now)
    sent: dict[int, list[tuple[int | None, int]]] = defaultdict(list)
    talents = {}
    for row in rows:
        message = row.message
        if message.status == S.QUEUED:
            sent[message.talent_id].append((message.fan_id, max(1, message.parts)))
            talents[message.talent_id] = message.talent
    for talent_id, texts in sent.items():
        count_lane_parts(talents[talent_id], texts, now=now)  # the carriers' daily caps see them too
    for talent_id, errors in effects.items():
        apply_error_effects(talent_id=talent_id, campaign_id=None, errors=errors)
    return dict(counts)


_OUTCOME_FIELDS = ["status", "provider_sid", "sent_at", "parts", "not_before", "error_code", "error_message"]


def _save_outcomes(changed: list[OutboundMessage], now: dt.datetime) -> None:
    """Write a batch's outcomes, never moving a status back: the provider's status callbacks (sent,
    delivered) arrive 50-250 ms after each send, long before the batch ends, and find the row by
    its hint, so "queued" here must not overwrite their "delivered" (nor an uncertain one's proof
    that it left). On PostgreSQL one UPDATE ... FROM (VALUES ...) per 500 rows: Django's bulk_update
    builds a CASE of every field for every row, which cost more CPU than the sends themselves
    (about 5 ms a link)."""
    if connection.vendor == "postgresql":
        for start in range(0, len(changed), 500):
            chunk = changed[start : start + 500]
            params: list = []
            for m in chunk:
                values = [m.status, m.provider_sid, m.sent_at, m.parts, m.not_before, m.error_code, m.error_message]
                params += [m.pk, *values, STATUS_RANK[m.status]]
            with connection.cursor() as cursor:
                cursor.execute(_outcomes_sql(len(chunk)), [*params, now])
        return
    current = dict(OutboundMessage.objects.filter(pk__in=[m.pk for m in changed]).values_list("pk", "status"))
    for m in changed:
        if STATUS_RANK.get(current.get(m.pk, ""), 0) > STATUS_RANK[m.status]:
            m.status = current[m.pk]
    fields = [*_OUTCOME_FIELDS, "lease_until", "updated_at"]
    OutboundMessage.objects.bulk_update(changed, fields, batch_size=500)


def _outcomes_sql(rows: int) -> str:
    meta = OutboundMessage._meta
    cols: list[str] = [meta.get_field(name).column for name in _OUTCOME_FIELDS]  # type: ignore[union-attr,misc]
    value = "(%s::bigint, %s, %s, %s::timestamptz, %s::int, %s::timestamptz, %s, %s, %s::int)"
    rank = "CASE o.status " + " ".join(f"WHEN '{k}' THEN {r}" for k, r in STATUS_RANK.items()) + " ELSE 0 END"
    sets = [
        f"status = CASE WHEN {rank} > v.rank THEN o.status ELSE v.status END",
        "provider_sid = COALESCE(v.provider_sid, o.provider_sid)",  # a callback may have recorded it first
        *(f"{col} = v.{col}" for col in cols[2:5]),
        # A failed callback's code, when it came before this record, stays.
        f"{cols[5]} = CASE WHEN v.{cols[5]} <> '' THEN v.{cols[5]} ELSE o.{cols[5]} END",
        f"{cols[6]} = v.{cols[6]}",
        "lease_until = NULL",
        "updated_at = %s",
    ]
    return (
        f"WITH v (id, {', '.join(cols)}, rank) AS (VALUES {', '.join([value] * rows)}) "  # noqa: S608 - constants
        f"UPDATE {meta.db_table} AS o SET {', '.join(sets)} FROM v WHERE o.id = v.id"
    )


def _log_sends(path: str, rows: Sequence[_Row], batch: str) -> None:
    """The lane's own clock for a benchmark (settings.PRIORITY_LANE_SEND_LOG): one JSON line per
    send call, written once per batch (never in the paced loop), so the busiest second can be read
    from when we sent as well as from when the provider stamped it."""
    lines = [
        json.dumps(
            {
                "id": r.message.pk,
                "to": r.message.to_number,
                "lane": r.message.lane,
                "parts": max(1, r.message.parts),
                "wall": round(r.called_at[0], 6),
                "mono": round(r.called_at[1], 6),
                "paced_mono": round(r.paced_at, 6),
                "slot_mono": round(r.slot_at, 6),
                "pid": os.getpid(),
                "batch": batch,
            }
        )
        for r in rows
        if r.called_at is not None
    ]
    if lines:
        with open(path, "a", encoding="utf-8") as log:
            log.write("\n".join(lines) + "\n")  # one append per batch: lines of two processes never mix
