"""Record: a batch's results in a few set-based UPDATEs, then the side effects of its errors.

Rule 4 of exactly once (see engine.py): results are recorded against the claim token, and
statuses only move forward, so a row the sweeper took back is never overwritten. How each kind of
outcome is written is one table, RECORDS: its new status, the columns it sets from the outcome and
those it sets to a constant.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Fan
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from messaging.campaigns.models import Campaign, transition_from
from messaging.sending.claim import TABLE, Batch
from messaging.sending.models import UndeliverableNumber
from messaging.sending.pacing import DAILY_TABLE, sent_count_statement
from messaging.sending.registration import mark_unregistered
from messaging.sending.send import Outcome
from messaging.sending.senders import pacific_day
from messaging.sending.sql import Dialect, Op, Statement, run_sync, update_rows
from messaging.sms.backends import SmsError
from messaging.sms.errors import FILTERED_CODES, OPT_OUT_CODES, UNDELIVERABLE_CODES, UNREGISTERED_CODES
from messaging.sms.models import OutboundMessage

logger = logging.getLogger(__name__)

S = OutboundMessage.Status
NOW = object()  # a constant column set to the time of recording


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


# Outcomes of kind "sent" carry a result, "failed" ones an error (send._send_rows).
def _sid(o: Outcome, now: dt.datetime) -> str:
    assert o.result is not None
    return o.result.sid


def _parts(o: Outcome, now: dt.datetime) -> int:
    assert o.result is not None
    return o.result.parts or o.row.parts


def _code(o: Outcome, now: dt.datetime) -> str:
    assert o.error is not None
    return o.error.code[:16]


def _message(o: Outcome, now: dt.datetime) -> str:
    return str(o.error)[:300]


def _attempts(o: Outcome) -> int:
    """The row's provider attempts after this outcome: one more only if the provider was called."""
    return o.row.attempts + int(o.called)


def _attempts_column(o: Outcome, now: dt.datetime) -> int:
    return _attempts(o)


def _retry_at(o: Outcome, now: dt.datetime) -> dt.datetime:
    return now + _backoff(max(1, _attempts(o)))


@dataclass(frozen=True)
class Recorded:
    """How one kind of outcome is written."""

    kind: str
    status: str
    columns: tuple[tuple[str, str, Callable[[Outcome, dt.datetime], object]], ...] = ()  # (column, SQL type, value)
    constants: tuple[tuple[str, object], ...] = ()  # (column, value or NOW)
    # A status callback may have moved a sent row up before we got here: keep the higher status,
    # and record the sid whatever the row's status (still our claim: same token).
    forward_only: bool = False


RECORDS = (
    Recorded(
        "sent",
        S.QUEUED,
        (("provider_sid", "text", _sid), ("segments", "integer", _parts)),
        (("sent_at", NOW),),
        forward_only=True,
    ),
    Recorded("failed", S.FAILED, (("error_code", "text", _code), ("error_message", "text", _message))),
    Recorded("uncertain", S.UNCERTAIN, (("error_message", "text", _message),)),
    Recorded("gave_up", S.FAILED, constants=(("error_message", "gave up after repeated throttling"),)),
    Recorded("retry", S.PENDING, (("not_before", "timestamptz", _retry_at),)),
    Recorded("unsent", S.PENDING),
    # Same record as a STOP seen at claim time: suppressed, reason opted_out, never sent.
    Recorded("stopped", S.SUPPRESSED, constants=(("error_code", str(Fan.Status.OPTED_OUT)),)),
)
# Outcomes that never reached a carrier: their parts, booked under a daily cap at claim, are given
# back. Twilio refused or throttled them, they were never sent (the lease ran short, the request
# never left) or the fan texted STOP meanwhile. "sent" and "uncertain" (may have left) stay counted.
NOT_CARRIED = frozenset({"unsent", "stopped", "retry", "gave_up", "failed"})
# Statuses a sent row may be in and still move to queued.
BEFORE_QUEUED = (S.PENDING, S.CLAIMED, S.UNCERTAIN)


def _record_kind(outcome: Outcome) -> str:
    # Only attempts that reached the provider count toward giving up (claim.py, ClaimedRow.attempts).
    if outcome.kind == "retry" and outcome.called and _attempts(outcome) >= settings.CAMPAIGN_MAX_ATTEMPTS:
        return "gave_up"
    return outcome.kind


def _record_statement(d: Dialect, rec: Recorded, outcomes: list[Outcome], token: dt.datetime, now: dt.datetime):
    # Every kind writes the row's attempts: only a real provider call counts (ClaimedRow.attempts).
    columns = (*rec.columns, ("attempts", "integer", _attempts_column))
    sets = [f"{column} = v.column{i + 2}" for i, (column, _, _) in enumerate(columns)]
    set_params: list = []
    for column, value in rec.constants:
        sets.append(f"{column} = %s")
        set_params.append(now if value is NOW else value)
    if rec.forward_only:
        states = ", ".join(["%s"] * len(BEFORE_QUEUED))
        sets.append(f"status = CASE WHEN {TABLE}.status IN ({states}) THEN %s ELSE {TABLE}.status END")
        set_params += [*[str(s) for s in BEFORE_QUEUED], str(rec.status)]
        where: Statement = (f"{TABLE}.claimed_at = %s", [token])
    else:
        sets.append("status = %s")
        set_params.append(str(rec.status))
        where = (f"{TABLE}.claimed_at = %s AND {TABLE}.status = %s", [token, str(S.CLAIMED)])
    sets.append("lease_until = NULL, updated_at = %s")
    set_params.append(now)
    rows = [(o.row.id, *[value(o, now) for _, _, value in columns]) for o in outcomes]
    casts = ("bigint", *[cast for _, cast, _ in columns])
    return update_rows(d, TABLE, (", ".join(sets), set_params), rows, casts, where)


def record_statements(d: Dialect, batch: Batch, outcomes: list[Outcome], now: dt.datetime) -> list[Statement]:
    """The UPDATEs that record a batch's results (run in one transaction), each guarded by the
    claim token so a row the sweeper took back is never overwritten."""
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[_record_kind(outcome)].append(outcome)
    found = [_record_statement(d, rec, by_kind[rec.kind], batch.token, now) for rec in RECORDS]
    sent_fans = [(o.row.fan_id,) for o in by_kind["sent"] if o.row.fan_id]
    found.append(update_rows(d, Fan._meta.db_table, ("last_sent_at = %s", [now]), sent_fans, ("bigint",)))
    found.append((f"UPDATE {Campaign._meta.db_table} SET last_batch_at = %s WHERE id = %s", [now, batch.campaign_id]))  # noqa: S608
    found += cap_refund_statements(batch, by_kind)
    found += sent_count_statements(batch, by_kind["sent"], now)
    return [statement for statement in found if statement is not None]


def sent_count_statements(batch: Batch, sent: list[Outcome], now: dt.datetime) -> list[Statement]:
    """What each sender of the batch sent, counted in the same transaction as the rows' record
    (pacing.sent_count_statement; /metrics reads it as the send rate per sender)."""
    by_address: dict[str, int] = defaultdict(int)
    pool = batch.pool
    for outcome in sent:
        lane = pool.lanes[outcome.row.lane] if pool is not None and outcome.row.lane < len(pool.lanes) else None
        address = (lane.messaging_service_sid or lane.from_) if lane else (batch.messaging_service_sid or batch.sender)
        by_address[address] += _parts(outcome, now)
    return [sent_count_statement(batch.talent_id, a, parts, now) for a, parts in sorted(by_address.items()) if a]


def cap_refund_statements(batch: Batch, by_kind: dict[str, list[Outcome]]) -> list[Statement]:
    """Give back to each daily cap the parts of rows that did not reach a carrier.

    The claim counts a row's parts against its lane's cap (T-Mobile per brand, a sole
    proprietor's day) before it leaves, so two workers never both book the last parts of a cap;
    a batch handed back unsent would otherwise hold cap it never used and push texts to tomorrow.
    The refund goes to the claim's day (the token), never below zero."""
    pool = batch.pool
    if pool is None or not pool.caps:
        return []
    refunds: dict[str, int] = defaultdict(int)
    for kind in NOT_CARRIED:
        for outcome in by_kind.get(kind, ()):
            lane = pool.lanes[outcome.row.lane] if outcome.row.lane < len(pool.lanes) else None
            if lane is not None and lane.cap_key:
                refunds[lane.cap_key] += outcome.row.parts
    day = pacific_day(batch.token)
    return [
        (
            f"UPDATE {DAILY_TABLE} SET parts = CASE WHEN parts > %s THEN parts - %s ELSE 0 END "  # noqa: S608
            "WHERE talent_id = %s AND cap_key = %s AND day = %s",
            [parts, parts, pool.talent_id, key, day],
        )
        for key, parts in sorted(refunds.items())
        if parts
    ]


def record_op(d: Dialect, batch: Batch, outcomes: list[Outcome], now: dt.datetime) -> Op[None]:
    for statement in record_statements(d, batch, outcomes, now):  # noqa: UP028 - `yield from` a list cannot take send()
        yield statement


def batch_record(*, batch: Batch, outcomes: list[Outcome], now: dt.datetime | None = None) -> dict[str, int]:
    """Write a batch's results in a few set-based UPDATEs, then the side effects of its errors."""
    run_sync(record_op, batch, outcomes, now or timezone.now())
    apply_error_effects(talent_id=batch.talent_id, campaign_id=batch.campaign_id, errors=outcome_errors(outcomes))
    unregistered_senders(batch, outcomes)
    return outcome_counts(outcomes)


def unregistered_senders(batch: Batch, outcomes: list[Outcome]) -> int:
    """Twilio 30034 on sends of this batch: hold back the senders they went from (registration.py).
    Their rows went back to pending (send.py), to leave from another sender. Senders marked."""
    marked = 0
    seen: set[tuple[str, str]] = set()
    for outcome in outcomes:
        if outcome.error is None or outcome.error.code not in UNREGISTERED_CODES:
            continue
        pool = batch.pool
        lane = pool.lanes[outcome.row.lane] if pool is not None and outcome.row.lane < len(pool.lanes) else None
        address = (lane.from_, lane.messaging_service_sid) if lane else (batch.sender, batch.messaging_service_sid)
        if address in seen:
            continue
        seen.add(address)
        marked += mark_unregistered(
            talent_id=batch.talent_id,
            from_number=address[0],
            messaging_service_sid=address[1],
            message_id=outcome.row.id,
        )
    return marked


def outcome_counts(outcomes: list[Outcome]) -> dict[str, int]:
    """Outcomes by kind; logs a warning when some sends were put back, uncertain or failed."""
    counts: dict[str, int] = defaultdict(int)
    first_error: dict[str, SmsError] = {}
    for outcome in outcomes:
        counts[outcome.kind] += 1
        if outcome.error is not None:
            first_error.setdefault(outcome.kind, outcome.error)
    troubles = {kind: counts[kind] for kind in ("retry", "uncertain", "failed", "unsent") if counts.get(kind)}
    if troubles:
        logger.warning(
            "campaign batch of %d: %s; first errors: %s",
            len(outcomes),
            ", ".join(f"{n} {kind}" for kind, n in troubles.items()),
            "; ".join(f"{kind}: {error}" for kind, error in first_error.items()),
        )
    return dict(counts)


def outcome_errors(outcomes: list[Outcome]) -> list[tuple[int | None, str, SmsError]]:
    return [(o.row.fan_id, o.row.to, o.error) for o in outcomes if o.kind == "failed" and o.error]


def apply_error_effects(
    *, talent_id: int, campaign_id: int | None, errors: list[tuple[int | None, str, SmsError]]
) -> None:
    """What a provider error means beyond the one message: opt-out, dead number, carrier filter."""
    for fan_id, to_number, error in errors:
        if error.code in OPT_OUT_CODES and fan_id:
            fan = Fan.objects.filter(pk=fan_id).first()
            if fan is not None:
                fan_opt_out(
                    fan=fan, evidence=Evidence(method=ConsentRecord.Method.CARRIER, evidence=f"Twilio {error.code}")
                )
        elif error.code in UNDELIVERABLE_CODES and to_number:
            UndeliverableNumber.objects.get_or_create(
                talent_id=talent_id, phone=to_number, defaults={"error_code": error.code}
            )
    if campaign_id and any(error.code in FILTERED_CODES for _, _, error in errors):
        campaign_pause_for_filtering(campaign_id=campaign_id)


def campaign_pause_for_filtering(*, campaign_id: int) -> bool:
    """Carrier filtering (30007): stop the blast before more is blocked, and tell the team."""
    campaign = Campaign.objects.select_related("talent").get(pk=campaign_id)
    reason = "Carriers are filtering this message (Twilio 30007). Review the text before resuming."
    with transaction.atomic():
        moved = Campaign.objects.filter(pk=campaign_id, status__in=transition_from("pause_for_filtering")).update(
            status=Campaign.Status.PAUSED, paused_reason=reason, updated_at=timezone.now()
        )
        if moved:
            audit("campaign.paused_carrier_filtering", talent=campaign.talent, obj=campaign, code="30007")
    if moved:
        logger.warning("campaign %s paused: %s", campaign_id, reason)
    return bool(moved)


@dataclass
class RunReport:
    batches: int = 0
    sent: int = 0
    more_due: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    handed_over: bool = False  # the next send task was queued before this one ended (pipeline.py)


def _add_counts(report: RunReport, counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        report.counts[kind] = report.counts.get(kind, 0) + n
    report.sent += counts.get("sent", 0)
