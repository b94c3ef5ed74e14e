"""Claim: lock a slice of due rows, re-check STOP and quiet hours, render, lease them to a worker.

Rule 2 of exactly once (see engine.py): a worker sends only rows it claimed, with
`SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite's transactions here are IMMEDIATE, so
claims are serialised) and a lease whose `claimed_at` is the batch's token.

The operations (`claim_op`, `stopped_op`) are written once and run by either driver (sql.py): the
sync services below, the pipeline's thread door and its psycopg door.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from accounts.models import Fan
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign, TrackedLink
from messaging.campaigns.render import FanFields, Framing, render_body
from messaging.sending.models import FanCarrier
from messaging.sending.pacing import count_daily_op, daily_counts_op, lane_backlogs_op, load_pool
from messaging.sending.senders import CARRIERS, OTHER, Lane, Pool, next_pacific_midnight
from messaging.sending.sql import Dialect, Op, Statement, as_datetime, in_ids, read_only, run_sync, update_rows
from messaging.sms.models import OutboundMessage
from messaging.sms.parts import sms_parts

S = OutboundMessage.Status
TABLE = OutboundMessage._meta.db_table
FAN_TABLE = Fan._meta.db_table
CARRIER_TABLE = FanCarrier._meta.db_table


@dataclass
class ClaimedRow:
    id: int
    fan_id: int | None
    to: str
    body: str
    parts: int
    # Provider attempts made before this claim. Only a request the provider answered (or that
    # may have reached it) counts: a claim lost to a SIGKILL, a batch handed back unsent as its
    # lease ran out, or a request that never left cost the row nothing (record.py adds the
    # attempt when the outcome says the provider was called).
    attempts: int = 0
    lane: int = 0  # index in the pool's lanes (senders.py): which sender, toward which carrier
    # What the row keeps when `body` holds a per-fan secret (FAN_VALUES: a drop's code): the text
    # with that placeholder left in. None: the row keeps `body`.
    stored_body: str | None = None


# Merge fields a higher layer fills per fan at claim (issue 14: a drop's codes, "{code}"): field ->
# a statement (dialect, campaign id, fan ids) whose rows are (fan id, value). Registered at start-up
# (messaging/apps.py). The value goes into the text handed to the provider only; the stored body
# keeps the placeholder, as a signup link's does. Asked only for campaigns whose text names one.
FanValues = Callable[[Dialect, int, list[int]], Statement]
FAN_VALUES: dict[str, FanValues] = {}


@dataclass
class ClaimContext:
    """What a claim needs of its campaign, read once per claim (sync path) or per task (pipeline)."""

    campaign_id: int
    talent_id: int
    body: str
    ignore_quiet_hours: bool
    default_time_zone: str
    talent_tz: zoneinfo.ZoneInfo
    quiet_hours_start: dt.time
    quiet_hours_end: dt.time
    rate: float
    sender: str
    messaging_service_sid: str
    media_url: str
    validity_period: int
    link_codes: dict[str, str]
    framing: Framing = field(default_factory=Framing)  # the talent's brand prefix and opt-out line
    pool: Pool | None = None  # the talent's senders (issue 17); None: one lane at `rate`
    fan_fields: tuple[str, ...] = ()  # FAN_VALUES fields this campaign's text uses

    @property
    def pooled(self) -> bool:
        """More than the talent's own one lane: claims are budgeted per lane and daily cap."""
        return self.pool is not None and not self.pool.simple

    @classmethod
    def load(cls, campaign: Campaign) -> ClaimContext:
        talent = campaign.talent
        return cls(
            campaign_id=campaign.pk,
            talent_id=talent.pk,
            body=campaign.body,
            ignore_quiet_hours=campaign.ignore_quiet_hours,
            default_time_zone=talent.default_time_zone,
            talent_tz=talent.tz,
            quiet_hours_start=talent.quiet_hours_start,
            quiet_hours_end=talent.quiet_hours_end,
            rate=float(talent.parts_per_second),
            sender=str(talent.sender_number or ""),
            messaging_service_sid=talent.messaging_service_sid,
            media_url=campaign.media,
            validity_period=campaign.validity_period,
            link_codes=dict(TrackedLink.objects.filter(campaign_id=campaign.pk).values_list("url", "code")),
            framing=Framing.of(talent),
            pool=load_pool(talent),
            fan_fields=tuple(name for name in FAN_VALUES if "{" + name + "}" in campaign.body),
        )


@dataclass
class ClaimPlan:
    """What to do with the rows a claim locked: send, suppress (by reason) or defer (to a time)."""

    claimed: list[ClaimedRow] = field(default_factory=list)
    suppressed: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    deferred: dict[dt.datetime, list[int]] = field(default_factory=lambda: defaultdict(list))
    held: bool = False  # due rows were left pending because their lane's time line is full
    capped: int = 0  # rows moved to the next day by a daily cap (T-Mobile, sole proprietor)
    booked: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # parts per daily cap


@dataclass
class LaneBudget:
    """What a pooled claim may take: parts per lane (its rate over a window, 0 when its time line
    is booked far ahead) and parts left under each daily cap today."""

    parts: dict[int, float]
    cap_left: dict[str, int]
    next_day: dt.datetime  # when the caps reset (midnight US/Pacific)


@dataclass
class Batch:
    campaign_id: int
    talent_id: int
    token: dt.datetime  # claimed_at of every row of this batch
    lease_until: dt.datetime
    rate: float
    sender: str
    messaging_service_sid: str
    media_url: str
    validity_period: int
    rows: list[ClaimedRow] = field(default_factory=list)
    pool: Pool | None = None  # pooled claims: rows carry their lane
    held: bool = False  # due rows wait for a lane's time line (pooled claims)

    def lane_parts(self) -> dict[int, int]:
        parts: dict[int, int] = defaultdict(int)
        for row in self.rows:
            parts[row.lane] += row.parts
        return dict(parts)

    @property
    def parts(self) -> int:
        return sum(r.parts for r in self.rows)


def plan_claim(
    ctx: ClaimContext,
    rows: list[dict],
    now: dt.datetime,
    budget: LaneBudget | None = None,
    fan_values: dict[int, dict[str, str]] | None = None,
) -> ClaimPlan:
    """Re-check opt-out and quiet hours for locked rows and render the bodies (no database work).

    With a budget (a pooled talent), each row goes to its lane (sender, carrier); a row whose lane
    has no room is left pending for a later claim, one over a daily cap waits for the next day."""
    plan = ClaimPlan()
    for row in rows:
        status = row["fan__status"]
        if status != Fan.Status.ACTIVE:
            # STOP mid-blast (or erasure): this fan gets nothing more.
            plan.suppressed[status or "erased"].append(row["id"])
            continue
        if not ctx.ignore_quiet_hours:
            try:
                tz = scheduling.zone(row["fan__time_zone"] or ctx.default_time_zone)
            except Exception:
                tz = ctx.talent_tz
            allowed = scheduling.next_allowed(now, tz, ctx.quiet_hours_start, ctx.quiet_hours_end)
            if allowed > now:
                plan.deferred[allowed].append(row["id"])
                continue
        fields = FanFields(row["fan__first_name"] or "", row["fan__city"] or "")
        extra = None if fan_values is None else fan_values.get(row["fan_id"], dict.fromkeys(ctx.fan_fields, ""))
        body = render_body(ctx.body, fields, link_codes=ctx.link_codes, message_id=row["id"], extra=extra)
        with_line = ctx.framing.wants_line(as_datetime(row.get("fan__last_sent_at")), now)
        body = ctx.framing.apply(body, with_line=with_line)
        claimed = ClaimedRow(row["id"], row["fan_id"], row["to_number"], body, sms_parts(body).parts, row["attempts"])
        if extra is not None:
            kept = {name: "{" + name + "}" for name in ctx.fan_fields}
            stored = render_body(ctx.body, fields, link_codes=ctx.link_codes, message_id=row["id"], extra=kept)
            claimed.stored_body = ctx.framing.apply(stored, with_line=with_line)
        if (
            budget is not None
            and ctx.pool is not None
            and not _fits(ctx.pool, budget, plan, claimed, row.get("carrier"))
        ):
            continue
        plan.claimed.append(claimed)
    return plan


def _fits(pool: Pool, budget: LaneBudget, plan: ClaimPlan, row: ClaimedRow, carrier: str | None) -> bool:
    lane = pool.lane_for(row.fan_id, carrier)
    row.lane = lane.index
    if lane.cap_key:
        if budget.cap_left.get(lane.cap_key, 0) < row.parts:
            plan.deferred[budget.next_day].append(row.id)  # what the cap holds goes tomorrow
            plan.capped += 1
            return False
    if budget.parts.get(lane.index, 0) <= 0:
        plan.held = True  # this lane is full for now: the row stays pending, unlocked at commit
        return False
    budget.parts[lane.index] -= row.parts
    if lane.cap_key:
        budget.cap_left[lane.cap_key] -= row.parts
        plan.booked[lane.cap_key] += row.parts
    return True


def batch_limit(rate: float) -> int:
    """Rows per batch: CAMPAIGN_BATCH_SIZE, fewer for a slow sender so a batch fits half its lease."""
    return max(1, min(settings.CAMPAIGN_BATCH_SIZE, int(rate * settings.CAMPAIGN_LEASE_SECONDS / 2)))


# --- statements ---------------------------------------------------------------------------------
CLAIM_FIELDS = (
    "id",
    "fan_id",
    "to_number",
    "attempts",
    "fan__status",
    "fan__first_name",
    "fan__city",
    "fan__time_zone",
    "fan__last_sent_at",  # the opt-out line's "first text each month" (Framing.wants_line)
    "carrier",  # FanCarrier (Twilio Lookup), read for talents whose senders are paced per carrier
)


def status_statement(campaign_id: int) -> Statement:
    return f"SELECT status FROM {Campaign._meta.db_table} WHERE id = %s", [campaign_id]  # noqa: S608


def lane_filter(pool: Pool, lane: Lane) -> Statement:
    """The due rows of one lane: its sender's share of fans (fan id modulo the senders, as
    Pool.lane_for) and its carrier, so a full lane's rows never crowd another lane's out."""
    conditions: list[str] = []
    params: list[object] = []
    if pool.senders > 1:
        conditions.append("COALESCE(o.fan_id, 0) %% %s = %s")
        params += [pool.senders, lane.sender_index]
    if lane.carrier in CARRIERS:
        conditions.append("fc.carrier = %s")
        params.append(lane.carrier)
    elif lane.carrier == OTHER:
        conditions.append("(fc.carrier IS NULL OR fc.carrier NOT IN (%s, %s, %s))")
        params += list(CARRIERS)
    return " AND ".join(conditions), params


def due_rows_statement(
    d: Dialect, campaign_id: int, now: dt.datetime, limit: int, carriers: bool = False, lane: Statement = ("", [])
) -> Statement:
    """The due pending rows of a campaign (columns: CLAIM_FIELDS), locked for this claim."""
    lock = " FOR UPDATE OF o SKIP LOCKED" if d.pg else ""
    carrier, join = (
        ("fc.carrier", f" LEFT JOIN {CARRIER_TABLE} fc ON fc.fan_id = o.fan_id") if carriers else ("NULL", "")
    )
    return (
        "SELECT o.id, o.fan_id, o.to_number, o.attempts, f.status, f.first_name, f.city, f.time_zone, "
        f"f.last_sent_at, {carrier} "  # noqa: S608
        f"FROM {TABLE} o LEFT JOIN {FAN_TABLE} f ON f.id = o.fan_id{join} "
        f"WHERE o.campaign_id = %s AND o.status = %s AND o.not_before <= %s{' AND ' + lane[0] if lane[0] else ''} "
        f"ORDER BY o.not_before, o.id LIMIT %s{lock}",
        [campaign_id, str(S.PENDING), now, *lane[1], limit],
    )


def claim_statements(d: Dialect, plan: ClaimPlan, now: dt.datetime, lease_until: dt.datetime) -> list[Statement]:
    """The UPDATEs that apply a claim plan (run in the claim's transaction)."""
    found: list[Statement | None] = [
        update_rows(
            d,
            TABLE,
            ("status = %s, error_code = %s, updated_at = %s", [str(S.SUPPRESSED), reason[:16], now]),
            [(i,) for i in ids],
            ("bigint",),
        )
        for reason, ids in plan.suppressed.items()
    ]
    found += [
        update_rows(d, TABLE, ("not_before = %s, updated_at = %s", [when, now]), [(i,) for i in ids], ("bigint",))
        for when, ids in plan.deferred.items()
    ]
    sets = (
        "status = %s, claimed_at = %s, lease_until = %s, body = v.column2, segments = v.column3, updated_at = %s",
        [str(S.CLAIMED), now, lease_until, now],
    )
    found.append(
        update_rows(
            d,
            TABLE,
            sets,
            [(r.id, r.body if r.stored_body is None else r.stored_body, r.parts) for r in plan.claimed],
            ("bigint", "text", "integer"),
        )
    )
    return [statement for statement in found if statement is not None]


# --- operations ---------------------------------------------------------------------------------
def claim_op(
    d: Dialect, ctx: ClaimContext, now: dt.datetime, lease_until: dt.datetime, limit: int
) -> Op[ClaimPlan | None]:
    """Status check, lock of the due rows, STOP / quiet-hours re-check, claim. None when the
    campaign is not sending (paused, cancelled, gone) or nothing is due."""
    status = yield status_statement(ctx.campaign_id)
    if not status.rows or status.rows[0][0] != Campaign.Status.SENDING:
        return None
    budget = None
    if ctx.pool is not None and ctx.pooled:
        pool = ctx.pool
        budget = yield from _lane_budget(d, pool, now)
        rows: list[tuple] = []
        # Each lane takes the same span of its own time (its rate x the batch's span), so every
        # lane of a batch finishes about together. A batch holds one of the pipeline's few slots
        # until its slowest lane is done: with 500 rows a lane, Verizon's 120 (30 s at 4/s) held
        # the slot long after AT&T's (7 s at 75/s) had left, and AT&T ran at half its rate.
        span = limit / pool.total_rate if pool.total_rate > 0 else 0.0
        for lane in pool.lanes:  # one query per lane with room, each at most the lane's share
            room = budget.parts[lane.index]
            if room > 0:
                lane_limit = max(1, min(limit, int(room) + 1, lane_share(lane.rate, span)))
                statement = due_rows_statement(
                    d, ctx.campaign_id, now, lane_limit, pool.by_carrier, lane_filter(pool, lane)
                )
                rows += (yield statement).rows
        if not rows:
            if all(room > 0 for room in budget.parts.values()):
                return None  # every lane had room and none has anything due
            return ClaimPlan(held=True)
    else:
        rows = (yield due_rows_statement(d, ctx.campaign_id, now, limit)).rows
        if not rows:
            return None
    fan_values = None
    if ctx.fan_fields:
        fan_values = yield from _fan_values_op(d, ctx, [row[1] for row in rows if row[1] is not None])
    plan = plan_claim(ctx, [dict(zip(CLAIM_FIELDS, row, strict=True)) for row in rows], now, budget, fan_values)
    for statement in claim_statements(d, plan, now, lease_until):  # noqa: UP028 - `yield from` a list cannot take send()
        yield statement
    if budget is not None and ctx.pool is not None:
        yield from count_daily_op(d, ctx.pool, plan.booked, now)
    return plan


def lane_share(rate: float, span: float) -> int:
    """A lane's rows in one claim: its rate over the batch's span, rounded down (one at least).

    Rounded up, a slow lane's share ran past the span (4 a second over 4.07 s: 17 Verizon rows,
    4.25 s) and held the batch's pipeline slot after the other lanes were done; the next claim came
    that much later each time, so the fast lanes booked less than their rate batch after batch and
    their lead over the wire shrank (0.18 s a batch in bench_pacing)."""
    return max(1, math.floor(rate * span + 1e-9))


def _fan_values_op(d: Dialect, ctx: ClaimContext, fan_ids: list[int]) -> Op[dict[int, dict[str, str]]]:
    """{fan id: {field: value}} of the claimed fans, one statement per FAN_VALUES field used."""
    found: dict[int, dict[str, str]] = {fan_id: dict.fromkeys(ctx.fan_fields, "") for fan_id in fan_ids}
    if not fan_ids:
        return found
    for name in ctx.fan_fields:
        result = yield FAN_VALUES[name](d, ctx.campaign_id, fan_ids)
        for fan_id, value in result.rows:
            if fan_id in found:
                found[fan_id][name] = str(value or "")
    return found


def _lane_budget(d: Dialect, pool: Pool, now: dt.datetime) -> Op[LaneBudget]:
    """Each lane may take its rate over a quarter of a lease while its time line is booked less
    than an eighth of a lease ahead (what the single-lane pipeline waits for, per lane); the daily
    caps give what is left of today."""
    counts = yield from daily_counts_op(d, pool, now, lock=True)
    backlogs = yield from lane_backlogs_op(d, pool, now)
    ahead = settings.CAMPAIGN_LEASE_SECONDS / 8
    window = settings.CAMPAIGN_LEASE_SECONDS / 4
    parts = {lane.index: (lane.rate * window if backlogs[lane.index] <= ahead else 0.0) for lane in pool.lanes}
    cap_left = {key: max(0, cap - counts.get(key, 0)) for key, cap in pool.caps.items()}
    return LaneBudget(parts, cap_left, next_pacific_midnight(now))


@read_only
def stopped_op(d: Dialect, fan_ids: list[int]) -> Op[set[int]]:
    """Which of these fans are no longer active (texted STOP, withdrew, were erased)."""
    if not fan_ids:
        return set()
    ids_sql, ids_params = in_ids(d, "id", fan_ids)
    result = yield f"SELECT id FROM {FAN_TABLE} WHERE {ids_sql} AND status <> %s", [*ids_params, str(Fan.Status.ACTIVE)]  # noqa: S608
    return {row[0] for row in result.rows}


def make_batch(ctx: ClaimContext, plan: ClaimPlan, token: dt.datetime, lease_until: dt.datetime) -> Batch:
    """The batch of a claim; empty (not "done") when everything in its slice was suppressed or deferred."""
    sending = (ctx.rate, ctx.sender, ctx.messaging_service_sid, ctx.media_url, ctx.validity_period)
    return Batch(
        ctx.campaign_id, ctx.talent_id, token, lease_until, *sending, rows=plan.claimed, pool=ctx.pool, held=plan.held
    )


def lease_from(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)


# --- the sync services --------------------------------------------------------------------------
def campaign_claim_batch(*, campaign_id: int, now: dt.datetime | None = None, limit: int | None = None) -> Batch | None:
    """Claim up to `limit` due pending rows; re-check opt-out and quiet hours; render their bodies.

    Returns None when the campaign is not sending or nothing is due.
    """
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("talent").filter(pk=campaign_id).first()
    if campaign is None:
        return None
    ctx = ClaimContext.load(campaign)
    lease_until = lease_from(now)
    plan = run_sync(claim_op, ctx, now, lease_until, limit or batch_limit(ctx.rate))
    return None if plan is None else make_batch(ctx, plan, now, lease_until)


def stopped_fans(batch: Batch) -> set[int]:
    """Fans of a claimed batch who are no longer active since the claim. One indexed query; run
    when a batch starts leaving and, while it sends, every STOP_RECHECK_SECONDS, so a STOP committed
    mid-batch stops that fan's text too."""
    return run_sync(stopped_op, [r.fan_id for r in batch.rows if r.fan_id is not None])
