"""The send path: materialise recipients, claim batches, send concurrently, record in bulk, sweep.

Exactly once rests on four rules:
1. One OutboundMessage row per (campaign, fan), unique in the database, created before any send.
2. A worker sends only rows it claimed (select_for_update(skip_locked) + a lease with a token).
3. A worker stops starting sends well before its lease ends, so an expired lease means the
   worker is dead; the sweeper then asks the provider whether each row was sent before it lets the
   row be sent again. A timeout after the request left is UNCERTAIN: reconciled, never resent blindly.
4. Results are recorded against the claim token, and statuses only move forward.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import outbox
from accounts.audit import audit
from accounts.models import Fan
from accounts.tokens import DATA_LINK, JOIN_LINK
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign, TrackedLink, transition_from
from messaging.campaigns.render import FanFields, Framing, link_urls, render_body
from messaging.campaigns.services import campaign_audience
from messaging.sending.models import UndeliverableNumber
from messaging.sending.pacing import TokenBucket, sender_window
from messaging.sms.backends import BaseSmsBackend, SendResult, SmsError, SmsMessage, get_backend
from messaging.sms.errors import FILTERED_CODES, OPT_OUT_CODES, RETRYABLE_CODES, UNDELIVERABLE_CODES
from messaging.sms.models import OutboundMessage
from messaging.sms.parts import sms_parts

logger = logging.getLogger(__name__)

S = OutboundMessage.Status
THROTTLE_CODES = RETRYABLE_CODES  # the one table: messaging/sms/errors.py
# In-batch retries of a throttled or 5xx send, in seconds; then the row goes back with a backoff.
RETRY_DELAYS = (0.5, 1.5)
# Statuses of another campaign's rows that count against the fan's daily frequency cap.
CAP_COUNTED = [S.PENDING, S.CLAIMED, S.UNCERTAIN, S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED]


def status_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status/"


# --- SQL helpers --------------------------------------------------------------------------------
def _values_sql(rows: list[tuple], casts: tuple[str, ...] = ()) -> tuple[str, list]:
    """A VALUES list (columns column1..N on both PostgreSQL and SQLite) and its parameters."""
    width = len(rows[0])
    pg = connection.vendor == "postgresql"
    cells = []
    for i in range(width):
        cast = casts[i] if i < len(casts) and pg else ""
        cells.append(f"CAST(%s AS {cast})" if cast else "%s")
    row_sql = "(" + ", ".join(cells) + ")"
    params: list = []
    for row in rows:
        params.extend(row)
    return "VALUES " + ", ".join([row_sql] * len(rows)), params


def _db_dt(value: dt.datetime | None):
    """A datetime as the backend stores it (raw SQL bypasses the ORM's adaptation on SQLite)."""
    if value is None:
        return None
    return connection.ops.adapt_datetimefield_value(value)


TABLE = OutboundMessage._meta.db_table


# --- materialise --------------------------------------------------------------------------------
@dataclass
class Materialised:
    created: int  # rows inserted, including those inserted as suppressed
    suppressed_rows: int  # inserted as suppressed: frequency cap, undeliverable, local time passed
    excluded: int  # audience members with no row: opted out or erased


def _zone_plan(campaign: Campaign, zones: list[str], start: dt.datetime) -> list[tuple[str, dt.datetime | None, int]]:
    """(zone, not_before, skip) per fan time zone; computed in Python, joined in SQL."""
    talent = campaign.talent
    plan = []
    for name in zones:
        try:
            tz = scheduling.zone(name)
        except Exception:  # a zone stored by an import that skipped validation: use the talent's
            tz = talent.tz
        skip = 0
        if campaign.schedule_mode == Campaign.ScheduleMode.LOCAL_TIME:
            # Both are required for this mode when the campaign is scheduled (Campaign.clean, services).
            assert campaign.local_date is not None and campaign.local_time is not None
            target = scheduling.local_instant(campaign.local_date, campaign.local_time, tz)
            if target < start - dt.timedelta(minutes=settings.CAMPAIGN_START_GRACE_MINUTES):
                # This fan's local time passed before the campaign started (it was scheduled late).
                if campaign.late_policy == Campaign.LatePolicy.SKIP:
                    skip = 1
                target = start
            target = max(target, start)
        else:
            target = start
        if not campaign.ignore_quiet_hours:
            target = scheduling.next_allowed(target, tz, talent.quiet_hours_start, talent.quiet_hours_end)
        plan.append((name, None if target <= start else target, skip))
    return plan


def campaign_materialise(*, campaign: Campaign, now: dt.datetime | None = None) -> Materialised:
    """Create every recipient row of `campaign` in one INSERT ... SELECT (idempotent)."""
    now = now or timezone.now()
    talent = campaign.talent
    audience = campaign_audience(campaign=campaign, active_only=False)
    # Lists and segments may hold fans who opted out or were erased since: they get no row and
    # are counted as suppressed; pending fans (signup not finished) are simply not recipients.
    fans = audience.filter(status=Fan.Status.ACTIVE)
    default_zone = talent.default_time_zone
    zones = sorted({z or default_zone for z in fans.order_by().values_list("time_zone", flat=True).distinct()})
    plan = _zone_plan(campaign, zones, now)

    fan_sql, fan_params = fans.order_by().values("id", "phone", "time_zone").query.sql_with_params()
    pg = connection.vendor == "postgresql"
    params: list = []
    joins = []
    status_case = ["CASE"]
    reason_case = ["CASE"]
    # Every row gets a not_before (the start, or later for its zone) so the claim query can walk
    # the partial index (campaign, not_before, id) straight to the due rows.
    not_before = "%s"
    not_before_params = [_db_dt(now)]
    if plan:
        values_sql, values_params = _values_sql(
            [(name, _db_dt(nb), skip) for name, nb, skip in plan], casts=("text", "timestamptz", "integer")
        )
        joins.append(f"LEFT JOIN ({values_sql}) tzp ON tzp.column1 = COALESCE(NULLIF(f.time_zone, ''), %s)")
        params += [*values_params, default_zone]
        status_case.append("WHEN tzp.column3 = 1 THEN %s")
        reason_case.append("WHEN tzp.column3 = 1 THEN 'local_time_past'")
        not_before = "COALESCE(tzp.column2, %s)"
    if talent.daily_frequency_cap:
        recent = list(
            Campaign.objects.filter(talent=talent, started_at__gte=now - dt.timedelta(days=1))
            .exclude(pk=campaign.pk)
            .values_list("id", flat=True)
        )
        if recent:
            marks = ", ".join(["%s"] * len(recent))
            states = ", ".join(["%s"] * len(CAP_COUNTED))
            joins.append(
                f"LEFT JOIN (SELECT o.fan_id FROM {TABLE} o WHERE o.campaign_id IN ({marks}) "  # noqa: S608
                f"AND o.status IN ({states}) GROUP BY o.fan_id HAVING COUNT(*) >= %s) cap ON cap.fan_id = f.id"
            )
            params += [*recent, *[str(s) for s in CAP_COUNTED], talent.daily_frequency_cap]
            status_case.append("WHEN cap.fan_id IS NOT NULL THEN %s")
            reason_case.append("WHEN cap.fan_id IS NOT NULL THEN 'frequency_cap'")
    joins.append(f"LEFT JOIN {UndeliverableNumber._meta.db_table} und ON und.talent_id = %s AND und.phone = f.phone")
    params.append(talent.pk)
    status_case.append("WHEN und.id IS NOT NULL THEN %s")
    reason_case.append("WHEN und.id IS NOT NULL THEN 'undeliverable'")
    status_case.append("ELSE %s END")
    reason_case.append("ELSE '' END")
    status_params = [str(S.SUPPRESSED)] * (len(status_case) - 2) + [str(S.PENDING)]

    # Parameters in the order their placeholders appear: SELECT list, FROM subquery, joins.
    estimate = max(1, sms_parts(campaign.body).parts)
    insert = "INSERT OR IGNORE INTO" if connection.vendor == "sqlite" else "INSERT INTO"
    conflict = " ON CONFLICT DO NOTHING" if pg else ""
    sql = (
        f"{insert} {TABLE} (talent_id, fan_id, campaign_id, kind, to_number, body, media_url, status, "  # noqa: S608
        "provider_sid, error_code, error_message, segments, attempts, not_before, created_at, updated_at) "
        f"SELECT %s, f.id, %s, %s, f.phone, '', '', {' '.join(status_case)}, NULL, {' '.join(reason_case)}, '', "
        f"%s, 0, {not_before}, %s, %s FROM ({fan_sql}) f {' '.join(joins)} WHERE f.phone IS NOT NULL{conflict}"
    )
    all_params = [
        talent.pk,
        campaign.pk,
        str(OutboundMessage.Kind.CAMPAIGN),
        *status_params,
        estimate,
        *not_before_params,
        _db_dt(now),
        _db_dt(now),
        *fan_params,
        *params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        created = cursor.rowcount
    suppressed_rows = OutboundMessage.objects.filter(campaign=campaign, status=S.SUPPRESSED).count()
    return Materialised(
        created=created,
        suppressed_rows=suppressed_rows,
        excluded=_excluded_count(campaign, audience),
    )


def _excluded_count(campaign: Campaign, audience) -> int:
    """Audience members left out for their status (opted out, erased), for the report.

    With lists or segments the audience query returns every status, so they are counted there;
    "all fans" (no include) means all active fans, so its left-outs are the talent's opted-out
    and erased fans.
    """
    gone = [Fan.Status.OPTED_OUT, Fan.Status.ERASED]
    if campaign.include_lists.exists() or campaign.include_segments.exists():
        return audience.filter(status__in=gone).count()
    return Fan.objects.filter(talent_id=campaign.talent_id, status__in=gone).count()


def campaign_start(*, campaign_id: int, now: dt.datetime | None = None) -> Campaign | None:
    """Materialise a due campaign and mark it sending, in one transaction; None if not startable.

    A second dispatcher (another node) skips the locked row; a crash rolls the whole INSERT back,
    and the unique (campaign, fan) constraint makes a rerun harmless anyway.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True)
            .select_related("talent")
            .filter(pk=campaign_id, status__in=transition_from("start"))
            .first()
        )
        if campaign is None:
            return None
        late = now - (campaign.send_at or now)
        if late > dt.timedelta(minutes=settings.CAMPAIGN_START_GRACE_MINUTES):
            campaign.status = Campaign.Status.MISSED
            campaign.finished_at = now
            campaign.save(update_fields=["status", "finished_at", "updated_at"])
            audit("campaign.missed", talent=campaign.talent, obj=campaign, late_minutes=int(late.total_seconds() // 60))
            return campaign
        for url in link_urls(campaign.body):
            TrackedLink.objects.get_or_create(campaign=campaign, url=url)
        result = campaign_materialise(campaign=campaign, now=now)
        campaign.status = Campaign.Status.SENDING
        campaign.started_at = now
        campaign.recipients_count = result.created
        campaign.suppressed_count = result.excluded
        campaign.save(update_fields=["status", "started_at", "recipients_count", "suppressed_count", "updated_at"])
        audit(
            "campaign.started",
            talent=campaign.talent,
            obj=campaign,
            rows=result.created,
            suppressed=result.suppressed_rows + result.excluded,
        )
    return campaign


# --- claim --------------------------------------------------------------------------------------
@dataclass
class ClaimedRow:
    id: int
    fan_id: int | None
    to: str
    body: str
    parts: int
    attempts: int = 1  # including this claim


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
        )


@dataclass
class ClaimPlan:
    """What to do with the rows a claim locked: send, suppress (by reason) or defer (to a time)."""

    claimed: list[ClaimedRow] = field(default_factory=list)
    suppressed: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    deferred: dict[dt.datetime, list[int]] = field(default_factory=lambda: defaultdict(list))


def plan_claim(ctx: ClaimContext, rows: list[dict], now: dt.datetime) -> ClaimPlan:
    """Re-check opt-out and quiet hours for locked rows and render the bodies (no database work)."""
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
        body = render_body(
            ctx.body,
            FanFields(row["fan__first_name"] or "", row["fan__city"] or ""),
            link_codes=ctx.link_codes,
            message_id=row["id"],
        )
        body = ctx.framing.apply(body, with_line=ctx.framing.wants_line(row.get("fan__last_sent_at"), now))
        plan.claimed.append(
            ClaimedRow(row["id"], row["fan_id"], row["to_number"], body, sms_parts(body).parts, row["attempts"] + 1)
        )
    return plan


def claim_statements(plan: ClaimPlan, now: dt.datetime, lease_until: dt.datetime) -> list[tuple[str, list]]:
    """The UPDATEs that apply a claim plan (run in the claim's transaction)."""
    statements = []
    for reason, ids in plan.suppressed.items():
        statements.append(
            _ids_update_sql(
                "status = %s, error_code = %s, updated_at = %s", [str(S.SUPPRESSED), reason[:16], _db_dt(now)], ids
            )
        )
    for when, ids in plan.deferred.items():
        statements.append(_ids_update_sql("not_before = %s, updated_at = %s", [_db_dt(when), _db_dt(now)], ids))
    claim = _update_sql(
        "status = %s, claimed_at = %s, lease_until = %s, attempts = attempts + 1, "
        "body = v.column2, segments = v.column3, updated_at = %s",
        [(r.id, r.body, r.parts) for r in plan.claimed],
        ("bigint", "text", "integer"),
        "1 = 1",
        [str(S.CLAIMED), _db_dt(now), _db_dt(lease_until), _db_dt(now)],
    )
    if claim:
        statements.append(claim)
    return statements


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

    @property
    def parts(self) -> int:
        return sum(r.parts for r in self.rows)


def batch_limit(rate: float) -> int:
    """Rows per batch: CAMPAIGN_BATCH_SIZE, fewer for a slow sender so a batch fits half its lease."""
    return max(1, min(settings.CAMPAIGN_BATCH_SIZE, int(rate * settings.CAMPAIGN_LEASE_SECONDS / 2)))


def _update_sql(
    set_sql: str, rows: list[tuple], casts: tuple[str, ...], where: str, params: list, table: str = TABLE
) -> tuple[str, list] | None:
    """One UPDATE for many rows: row i gets the values rows[i] (column1 is its id); None if no rows.

    PostgreSQL: unnest() of one array per column, so a 500-row batch is a handful of parameters
    instead of 1,500 (client-side binding of a long VALUES list costs more than the query).
    SQLite: a VALUES list.
    """
    if not rows:
        return None
    if connection.vendor == "postgresql":
        names = ", ".join(f"column{i + 1}" for i in range(len(casts)))
        arrays = ", ".join(f"%s::{cast}[]" for cast in casts)
        source, source_params = f"unnest({arrays}) AS v({names})", [list(col) for col in zip(*rows, strict=True)]
    else:
        values_sql, source_params = _values_sql(rows, casts)
        source = f"({values_sql}) AS v"
    sql = f"UPDATE {table} SET {set_sql} FROM {source} WHERE {table}.id = v.column1 AND {where}"  # noqa: S608 - callers pass SQL constants
    split = set_sql.count("%s")
    return sql, [*params[:split], *source_params, *params[split:]]


def _ids_update_sql(
    set_sql: str,
    set_params: list,
    ids: list[int],
    where: str = "",
    where_params: list | None = None,
    table: str = TABLE,
) -> tuple[str, list]:
    """UPDATE table SET ... WHERE id in `ids` [AND where]: one array parameter on PostgreSQL."""
    in_params: list
    if connection.vendor == "postgresql":
        in_sql, in_params = "id = ANY(%s::bigint[])", [list(ids)]
    else:
        in_sql, in_params = f"id IN ({', '.join(['%s'] * len(ids))})", list(ids)
    extra = f" AND {where}" if where else ""
    return f"UPDATE {table} SET {set_sql} WHERE {in_sql}{extra}", [*set_params, *in_params, *(where_params or [])]  # noqa: S608


def _execute(statements: Sequence[tuple[str, list] | None]) -> list[int]:
    counts = []
    with connection.cursor() as cursor:
        for statement in statements:
            if statement is None:
                counts.append(0)
                continue
            cursor.execute(*statement)
            counts.append(cursor.rowcount)
    return counts


def campaign_claim_batch(*, campaign_id: int, now: dt.datetime | None = None, limit: int | None = None) -> Batch | None:
    """Claim up to `limit` due pending rows; re-check opt-out and quiet hours; render their bodies.

    Returns None when the campaign is not sending or nothing is due.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_related("talent").filter(pk=campaign_id).first()
        if campaign is None or campaign.status != Campaign.Status.SENDING:
            return None
        ctx = ClaimContext.load(campaign)
        rows = list(
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(campaign_id=campaign_id, status=S.PENDING, not_before__lte=now)
            .order_by("not_before", "id")
            .values(*CLAIM_FIELDS)[: limit or batch_limit(ctx.rate)]
        )
        if not rows:
            return None
        lease_until = now + dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
        plan = plan_claim(ctx, rows, now)
        _execute(claim_statements(plan, now, lease_until))
    return make_batch(ctx, plan, now, lease_until)


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
)


def make_batch(ctx: ClaimContext, plan: ClaimPlan, token: dt.datetime, lease_until: dt.datetime) -> Batch:
    if not plan.claimed:
        # Everything in this slice was suppressed or deferred: report an empty batch, not "done".
        return Batch(ctx.campaign_id, ctx.talent_id, token, lease_until, ctx.rate, "", "", "", 0, [])
    return Batch(
        campaign_id=ctx.campaign_id,
        talent_id=ctx.talent_id,
        token=token,
        lease_until=lease_until,
        rate=ctx.rate,
        sender=ctx.sender,
        messaging_service_sid=ctx.messaging_service_sid,
        media_url=ctx.media_url,
        validity_period=ctx.validity_period,
        rows=plan.claimed,
    )


# --- send ---------------------------------------------------------------------------------------
@dataclass
class Outcome:
    row: ClaimedRow
    kind: str  # sent | failed | retry | uncertain | unsent
    result: SendResult | None = None
    error: SmsError | None = None


def _is_retryable(error: SmsError) -> bool:
    """429 / 20429 and 5xx *before acceptance* (the provider answered, so nothing was created)."""
    if error.uncertain:
        return False
    if error.code in THROTTLE_CODES or error.http_status == 429:
        return True
    return error.http_status is not None and error.http_status >= 500 and error.code not in UNDELIVERABLE_CODES


async def _send_rows(
    batch: Batch,
    backend: BaseSmsBackend,
    *,
    send_deadline: float,
    start_at: float,
    close: bool = True,
    limit: asyncio.Semaphore | None = None,
    stopped: set[int] | None = None,
) -> list[Outcome]:
    stopped = stopped if stopped is not None else set()  # fan ids; kept current by the caller
    bucket = TokenBucket(batch.rate, capacity=max(1.0, batch.rate / 10), start_at=start_at)
    limit = limit or asyncio.Semaphore(settings.CAMPAIGN_SEND_CONCURRENCY)
    media = (batch.media_url,) if batch.media_url else ()
    callback = status_callback_url()

    async def one(row: ClaimedRow) -> Outcome:
        message = SmsMessage(
            to=row.to,
            body=row.body,
            from_=batch.sender if not batch.messaging_service_sid else "",
            messaging_service_sid=batch.messaging_service_sid,
            media_urls=media,
            status_callback=f"{callback}?m={row.id}" if settings.CAMPAIGN_STATUS_CALLBACKS else "",
            validity_period=batch.validity_period or None,
        )
        async with limit:
            delays = RETRY_DELAYS
            for attempt in range(len(delays) + 1):
                await bucket.acquire(row.parts)
                if row.fan_id in stopped:
                    return Outcome(row, "stopped")  # STOP arrived after the claim: never sent
                if time.monotonic() > send_deadline:
                    return Outcome(row, "unsent")  # the lease is running out: hand it back unsent
                try:
                    return Outcome(row, "sent", result=await backend.send_async(message))
                except SmsError as error:
                    if error.uncertain:
                        return Outcome(row, "uncertain", error=error)
                    if _is_retryable(error):
                        if attempt < len(delays) and time.monotonic() + delays[attempt] < send_deadline:
                            await asyncio.sleep(delays[attempt])
                            continue
                        return Outcome(row, "retry", error=error)
                    if not error.permanent:
                        # Provably not sent (connection refused, DNS ...): a later batch tries again.
                        return Outcome(row, "retry", error=error)
                    return Outcome(row, "failed", error=error)
                except Exception as error:  # a backend bug: the request may have left
                    return Outcome(row, "uncertain", error=SmsError(str(error)[:200], uncertain=True))
            return Outcome(row, "retry")

    try:
        return await asyncio.gather(*(one(row) for row in batch.rows))
    finally:
        if close:
            await backend.aclose()


def batch_send(*, batch: Batch, backend: BaseSmsBackend | None = None) -> list[Outcome]:
    """Send a claimed batch concurrently under the sender's rate; no ORM work inside the loop."""
    backend = backend or get_backend()
    start_at, send_deadline = _reserve(batch)
    stopped = stopped_fans(batch)
    return asyncio.run(_send_rows(batch, backend, send_deadline=send_deadline, start_at=start_at, stopped=stopped))


def stopped_fans(batch: Batch) -> set[int]:
    """Fans of a claimed batch who are no longer active (texted STOP, withdrew, were erased) since
    the claim. One indexed query; run when a batch starts leaving and, while it sends, every
    STOP_RECHECK_SECONDS, so a STOP committed mid-batch stops that fan's text too."""
    fan_ids = [r.fan_id for r in batch.rows if r.fan_id is not None]
    if not fan_ids:
        return set()
    return set(Fan.objects.filter(id__in=fan_ids).exclude(status=Fan.Status.ACTIVE).values_list("id", flat=True))


STOP_RECHECK_SECONDS = 0.5


def _reserve(batch: Batch) -> tuple[float, float]:
    """(monotonic start, monotonic send deadline) of a claimed batch, reserving the sender's time.

    Sends stop starting once a third of the lease is left: a live worker never sends after the
    sweeper could consider its rows abandoned.
    """
    return send_window(batch, sender_window(talent_id=batch.talent_id, parts=batch.parts, rate=batch.rate))


def send_window(batch: Batch, delay: float) -> tuple[float, float]:
    """(monotonic start, monotonic send deadline) of a batch whose slice starts in `delay` seconds."""
    now = time.monotonic()
    lease_left = (batch.lease_until - timezone.now()).total_seconds()
    return now + delay, now + lease_left * 2 / 3


# --- record -------------------------------------------------------------------------------------
def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


def batch_record(*, batch: Batch, outcomes: list[Outcome], now: dt.datetime | None = None) -> dict[str, int]:
    """Write a batch's results in a few set-based UPDATEs, then the side effects of its errors."""
    now = now or timezone.now()
    with transaction.atomic():
        _execute(record_statements(batch, outcomes, now))
    apply_error_effects(talent_id=batch.talent_id, campaign_id=batch.campaign_id, errors=outcome_errors(outcomes))
    return outcome_counts(outcomes)


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


def record_statements(batch: Batch, outcomes: list[Outcome], now: dt.datetime) -> list[tuple[str, list]]:
    """The UPDATEs that record a batch's results (run in one transaction), each guarded by the
    claim token so a row the sweeper took back is never overwritten."""
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome)
    token = _db_dt(batch.token)
    owned = f"{TABLE}.claimed_at = %s"
    mine = [token, str(S.CLAIMED)]  # where-parameters of "claimed_at = %s AND status = %s"
    # Outcomes of kind "sent" carry a result, "failed" ones an error (_send_rows).
    statements: list[tuple[str, list] | None] = [
        # A status callback may have moved the row up before we got here: keep the higher status.
        _update_sql(
            "provider_sid = v.column2, segments = v.column3, sent_at = %s, lease_until = NULL, updated_at = %s, "
            f"status = CASE WHEN {TABLE}.status IN (%s, %s, %s) THEN %s ELSE {TABLE}.status END",
            [(o.row.id, o.result.sid, o.result.parts or o.row.parts) for o in by_kind["sent"]],  # type: ignore[union-attr]
            ("bigint", "text", "integer"),
            owned,
            [_db_dt(now), _db_dt(now), str(S.PENDING), str(S.CLAIMED), str(S.UNCERTAIN), str(S.QUEUED), token],
        ),
        _update_sql(
            "status = %s, error_code = v.column2, error_message = v.column3, lease_until = NULL, updated_at = %s",
            [(o.row.id, o.error.code[:16], str(o.error)[:300]) for o in by_kind["failed"]],  # type: ignore[union-attr]
            ("bigint", "text", "text"),
            f"{owned} AND {TABLE}.status = %s",
            [str(S.FAILED), _db_dt(now), *mine],
        ),
        _update_sql(
            "status = %s, error_message = v.column2, lease_until = NULL, updated_at = %s",
            [(o.row.id, str(o.error)[:300]) for o in by_kind["uncertain"]],
            ("bigint", "text"),
            f"{owned} AND {TABLE}.status = %s",
            [str(S.UNCERTAIN), _db_dt(now), *mine],
        ),
    ]
    retry = by_kind["retry"]
    exhausted = [o.row.id for o in retry if o.row.attempts >= settings.CAMPAIGN_MAX_ATTEMPTS]
    if exhausted:
        statements.append(
            _ids_update_sql(
                "status = %s, error_message = %s, lease_until = NULL, updated_at = %s",
                [str(S.FAILED), "gave up after repeated throttling", _db_dt(now)],
                exhausted,
                "claimed_at = %s AND status = %s",
                mine,
            )
        )
    statements.append(
        _update_sql(
            "status = %s, not_before = v.column2, lease_until = NULL, updated_at = %s",
            [
                (o.row.id, _db_dt(now + _backoff(o.row.attempts)))
                for o in retry
                if o.row.attempts < settings.CAMPAIGN_MAX_ATTEMPTS
            ],
            ("bigint", "timestamptz"),
            f"{owned} AND {TABLE}.status = %s",
            [str(S.PENDING), _db_dt(now), *mine],
        )
    )
    unsent = [o.row.id for o in by_kind["unsent"]]
    if unsent:
        statements.append(
            _ids_update_sql(
                "status = %s, lease_until = NULL, updated_at = %s",
                [str(S.PENDING), _db_dt(now)],
                unsent,
                "claimed_at = %s AND status = %s",
                mine,
            )
        )
    stopped = [o.row.id for o in by_kind["stopped"]]
    if stopped:
        # Same record as a STOP seen at claim time: suppressed, reason opted_out, never sent.
        statements.append(
            _ids_update_sql(
                "status = %s, error_code = %s, lease_until = NULL, updated_at = %s",
                [str(S.SUPPRESSED), str(Fan.Status.OPTED_OUT), _db_dt(now)],
                stopped,
                "claimed_at = %s AND status = %s",
                mine,
            )
        )
    sent_fans = [o.row.fan_id for o in by_kind["sent"] if o.row.fan_id]
    if sent_fans:
        statements.append(_ids_update_sql("last_sent_at = %s", [_db_dt(now)], sent_fans, table=Fan._meta.db_table))
    statements.append(
        (f"UPDATE {Campaign._meta.db_table} SET last_batch_at = %s WHERE id = %s", [_db_dt(now), batch.campaign_id])  # noqa: S608
    )
    return [st for st in statements if st is not None]


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


# --- sweep and reconcile ------------------------------------------------------------------------
UNKNOWN = object()
LOOKUP_CONCURRENCY = 50


def provider_lookup(backend: BaseSmsBackend, *, to: str, body: str, since: dt.datetime):
    """The provider's sid for a message to `to` with `body` created since `since`; None if there is
    none (safe to send again); UNKNOWN when this backend cannot tell (the row stays uncertain)."""
    return asyncio.run(_lookup_many(backend, [(to, body, since)]))[0]


async def _lookup_many(backend: BaseSmsBackend, wanted: list[tuple[str, str, dt.datetime]]) -> list:
    find_async = getattr(backend, "find_message_async", None)
    find = getattr(backend, "find_message", None)
    if find_async is None and find is None:
        return [UNKNOWN] * len(wanted)
    limit = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def one(to: str, body: str, since: dt.datetime):
        async with limit:
            try:
                if find_async is not None:
                    found = await find_async(to=to, body=body, since=since)
                else:
                    assert find is not None  # one of the two was found, or we returned above
                    found = await asyncio.to_thread(find, to=to, body=body, since=since)
            except SmsError as exc:  # provider unreachable: try again at the next sweep
                logger.warning("reconcile lookup failed for a row to %s: %s", to, exc)
                return UNKNOWN
            return found.sid if found is not None else None

    try:
        return await asyncio.gather(*(one(*w) for w in wanted))
    finally:
        await backend.aclose()


def campaign_sweep(
    *,
    campaign_id: int | None = None,
    now: dt.datetime | None = None,
    backend: BaseSmsBackend | None = None,
    limit: int = 1000,
) -> dict[str, int]:
    """Reconcile rows whose lease expired (their worker died) and uncertain rows old enough.

    Found at the provider -> queued with its sid. Not found -> pending again (sent by a later
    batch). Provider cannot tell -> uncertain, shown in the report, never resent blindly.
    Lookups run concurrently outside any transaction; each result is applied with a conditional
    UPDATE that still requires the row to be in the state it was looked up in, so a concurrent
    sweeper or a fresh claim is never overwritten.
    """
    now = now or timezone.now()
    backend = backend or get_backend()
    reconcile_before = now - dt.timedelta(seconds=settings.CAMPAIGN_RECONCILE_AFTER_SECONDS)
    stale = Q(status=S.CLAIMED, lease_until__lt=now) | Q(status=S.UNCERTAIN, updated_at__lt=reconcile_before)
    # A text whose link was made as it left (accounts/tokens.py placeholders) was sent with a body
    # that is stored nowhere, so the provider's copy cannot be matched: "not found" would resend it.
    # Such rows stay uncertain for a person, as the lane's own sweeper leaves them.
    qs = OutboundMessage.objects.filter(stale).exclude(
        Q(campaign__isnull=True) & (Q(body__contains=JOIN_LINK) | Q(body__contains=DATA_LINK))
    )
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    rows = list(qs.order_by("id").values("id", "to_number", "body", "claimed_at", "created_at", "status")[:limit])
    counts = {"found": 0, "resend": 0, "uncertain": 0}
    if not rows:
        return counts
    sids = asyncio.run(
        _lookup_many(backend, [(r["to_number"], r["body"], r["claimed_at"] or r["created_at"]) for r in rows])
    )
    for row, sid in zip(rows, sids, strict=True):
        same = OutboundMessage.objects.filter(pk=row["id"], status=row["status"], claimed_at=row["claimed_at"]).filter(
            stale
        )
        if sid is UNKNOWN:
            counts["uncertain"] += same.update(status=S.UNCERTAIN, lease_until=None, updated_at=now)
        elif sid:
            counts["found"] += same.update(
                status=S.QUEUED, provider_sid=sid, sent_at=now, lease_until=None, updated_at=now
            )
        else:
            counts["resend"] += same.update(status=S.PENDING, lease_until=None, updated_at=now)
    return counts


def campaign_maybe_complete(*, campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Mark a sending campaign completed once no row is waiting, claimed or uncertain."""
    now = now or timezone.now()
    busy = OutboundMessage.objects.filter(campaign_id=campaign_id, status__in=[S.PENDING, S.CLAIMED, S.UNCERTAIN])
    if busy.exists():
        return False
    with transaction.atomic():
        moved = Campaign.objects.filter(pk=campaign_id, status__in=transition_from("complete")).update(
            status=Campaign.Status.COMPLETED, finished_at=now, updated_at=now
        )
        if moved:  # outgoing webhooks (issue 16), in the same transaction as the status change
            campaign = Campaign.objects.only("pk", "talent_id", "name").get(pk=campaign_id)
            data = {"id": campaign.pk, "name": campaign.name, "status": "completed", "finished_at": outbox.iso(now)}
            outbox.webhook_emit(talent_id=campaign.talent_id, type="campaign.finished", data={"campaign": data})
    return bool(moved)


# --- the loop one send task runs ----------------------------------------------------------------
@dataclass
class RunReport:
    batches: int = 0
    sent: int = 0
    more_due: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def _add_counts(report: RunReport, counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        report.counts[kind] = report.counts.get(kind, 0) + n
    report.sent += counts.get("sent", 0)


def campaign_has_due_rows(*, campaign_id: int, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return OutboundMessage.objects.filter(campaign_id=campaign_id, status=S.PENDING, not_before__lte=now).exists()
