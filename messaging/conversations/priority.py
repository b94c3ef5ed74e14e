"""The priority lane: every one-to-one text a talent sends (STOP/START/HELP confirmations, data
links, signup codes, join links, team replies), sent in batches at the sender's pace.

A text is a row first: `priority_message_queue` writes it (pending) in the caller's transaction, and
on commit kicks the lane task (at most once a second per process, not one task per text). The lane
task (`priority_lane_run`, on its own django-q2 cluster so a blast cannot delay it) processes stored
inbound texts and sends pending rows until both are drained:

- Claim: pending rows in lane order (compliance, personal, join links), then id; `select_for_update
  (skip_locked)`, so several lane workers never take the same row; a delivered-twice task sends once.
- Pace: each talent's sender at `Talent.parts_per_second`, counting SMS parts. One rule for every
  text a talent sends: the priority lane books first on the sender's clock (`SenderClock`), and
  campaign batches get what is left. Compliance texts are never held by a cap: they leave at once
  and still book their parts, so the campaign behind them yields.
- Send concurrently through the backend's async path, asking for status callbacks (`?m=<row id>`),
  so system texts move past "queued" like campaign texts.
- Record in bulk. Throttled -> back to pending with a backoff; uncertain -> `uncertain`, never resent
  blindly (a duplicate SMS is the worse failure); permanent -> failed, with the provider error's
  effects (21610 opts the fan out, dead numbers are remembered).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import pumping
from accounts.models import Fan, Talent
from accounts.stop_notices import NOTICES
from accounts.tokens import has_links, preview_links, render_links
from messaging.conversations.lane_links import LinkFan, _link_fans  # the fans links are made for
from messaging.conversations.lane_record import _log_sends, _record  # the record of a batch
from messaging.sending.engine import STOP_RECHECK_SECONDS, status_callback_url
from messaging.sending.models import SenderClock
from messaging.sending.pacing import TokenBucket, gil_hands_over_often
from messaging.sending.senders import lane_address
from messaging.sms.backends import BaseSmsBackend, SmsError, SmsMessage, get_backend
from messaging.sms.models import OutboundMessage
from messaging.sms.parts import sms_parts

logger = logging.getLogger(__name__)

S = OutboundMessage.Status
Lane = OutboundMessage.Lane
LANE_TASK = "messaging.tasks.run_priority_lane"  # by path: the task layer sits above
RULES_TASK = "messaging.tasks.run_inbound_rules"
SENDS_TASK = "messaging.tasks.run_priority_sends"
_KICK_KEY = "priority-lane-kick"
_LEASE = dt.timedelta(seconds=90)
# Of a sender's time per batch: claim and record cost 0.4-1.7 s between batches (more while a burst
# holds the CPU), when nothing leaves; 20 s keeps that under 10 % (6 s gave 78 % of the rate).
_BATCH_SECONDS = 20.0
ONE_TO_ONE = [OutboundMessage.Kind.SYSTEM, OutboundMessage.Kind.REPLY]
GUARDED_LANES = (Lane.PERSONAL, Lane.LINK)  # signup codes and join links: texts a stranger can ask for
# Per-fan secrets a higher layer fills as a text leaves, like links (issue 14: a drop's codes;
# registered by messaging/apps.py): [(fan id, body)] of a batch -> the bodies to send (None: as is).
BODY_FILLS: list[Callable[[list[tuple[int | None, str]]], list[str | None]]] = []


def priority_message_queue(
    *,
    talent: Talent,
    to: str,
    body: str,
    fan: Fan | None = None,
    kind: str = OutboundMessage.Kind.SYSTEM,
    lane: int = Lane.PERSONAL,
    sent_by=None,
    not_before: dt.datetime | None = None,
) -> OutboundMessage:
    """Record a one-to-one text; the lane sends it after the current transaction commits."""
    message = priority_message(
        talent=talent, to=to, body=body, fan=fan, kind=kind, lane=lane, sent_by=sent_by, not_before=not_before
    )
    message.save(force_insert=True)
    if message.status == S.PENDING:
        transaction.on_commit(lambda: priority_lane_kick(rules=False))
    return message


def priority_message(
    *,
    talent: Talent,
    to: str,
    body: str,
    fan: Fan | None = None,
    kind: str = OutboundMessage.Kind.SYSTEM,
    lane: int = Lane.PERSONAL,
    sent_by=None,
    not_before: dt.datetime | None = None,
) -> OutboundMessage:
    """The row `priority_message_queue` writes, not yet saved (the webhook's STOP writes it in its
    own statement, messaging/conversations/stop.py; the caller kicks the lane after commit).

    Codes and join links (system texts on the personal and link lanes) pass the SMS pumping guard
    first (accounts/pumping.py): one it refuses is stored as suppressed with the reason, never sent.
    """
    refused = ""
    if kind == OutboundMessage.Kind.SYSTEM and lane in GUARDED_LANES:
        refused = pumping.refusals(talent=talent, numbers=[to]).get(to, "")
    return OutboundMessage(
        talent=talent,
        fan=fan,
        kind=kind,
        lane=lane,
        to_number=to,
        body=body,
        # Paced and costed in SMS parts, like campaign texts; a link placeholder counts as the link.
        parts=max(1, sms_parts(preview_links(body, talent=talent)).parts),
        status=S.SUPPRESSED if refused else S.PENDING,
        error_message=refused,
        not_before=not_before,
        sent_by=sent_by if getattr(sent_by, "is_authenticated", False) else None,
    )


def guard_links(*, talent: Talent, messages: list[OutboundMessage]) -> None:
    """The pumping guard for join links built in bulk (the rule processor's burst path)."""
    refused = pumping.refusals(talent=talent, numbers=[m.to_number for m in messages])
    for message in messages:
        if message.to_number in refused:
            message.status, message.error_message = S.SUPPRESSED, refused[message.to_number]


# pg advisory locks held by the running loops (messaging/conversations/lane.py takes them): one
# sender loop paces each sender's clock, one rule loop applies the rules.
SENDER_LOCK = 7_301_002
RULES_LOCK = 7_301_003


def priority_lane_kick(*, rules: bool = True, sends: bool = True, force: bool = False) -> None:
    """Make sure the lane's tasks run soon: the rule processor (`rules`) and the sender (`sends`),
    two loops on the priority cluster's two workers, so sending at the sender's pace never waits for
    a batch of rules and the reverse. At most one enqueue a second per loop and process (per cache),
    and none for a loop that runs (PostgreSQL: its lock is held), unless `force` (a loop handing over).

    Safe to skip: a running loop polls for new work until it has been idle a while, and checks once
    more after it let go of its lock (so a text stored while the lock was seen held is never left
    waiting); the per-minute sweeper kicks both whenever anything waits. Inline (tests, Q_SYNC) one
    pass does both.
    """
    from django_q.conf import Conf
    from django_q.tasks import async_task

    if Conf.SYNC:
        async_task(LANE_TASK, cluster=settings.Q_PRIORITY_CLUSTER)
        return
    loops = [
        (func, lock)
        for wanted, func, key, lock in (
            (rules, RULES_TASK, _KICK_KEY + "-rules", RULES_LOCK),
            (sends, SENDS_TASK, _KICK_KEY + "-sends", SENDER_LOCK),
        )
        if wanted and (force or cache.add(key, 1, timeout=1))
    ]
    if loops and not force and connection.vendor == "postgresql":
        # A burst kicked the rule loop twice a second per web process: each task found the loop
        # running and ended, but they queued by the hundred in front of the sender loop's hand-over
        # (its next task waited ~5 s behind them, 2 % of a 20,000-link burst's rate each time).
        running = _locks_held([lock for _, lock in loops])
        loops = [(func, lock) for func, lock in loops if lock not in running]
    for func, _ in loops:
        async_task(func, cluster=settings.Q_PRIORITY_CLUSTER, task_name=func.rsplit(".", 1)[1], group="priority-lane")


def _locks_held(keys: list[int]) -> set[int]:
    """Which of these advisory lock keys (bigint, below 2**32) some session of this database holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0"
            " AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND objid::bigint = ANY(%s)",
            [keys],
        )
        return {row[0] for row in cursor.fetchall()}


def priority_message_send(message_id: int) -> str:
    """A task queued by an earlier release (one per text): send that row now through the lane."""
    message = OutboundMessage.objects.filter(pk=message_id).only("status").first()
    if message is None or message.status != S.PENDING:
        return "not-pending"
    priority_send_batch(only_ids=[message_id])
    return OutboundMessage.objects.filter(pk=message_id).values_list("status", flat=True).first() or "gone"


# --- one batch ------------------------------------------------------------------------------------
@dataclass
class _Row:
    message: OutboundMessage
    result_sid: str = ""
    result_parts: int | None = None
    error: SmsError | None = None
    suppressed: bool = False  # the fan texted STOP after the claim: never sent
    body: str = ""  # the text as it leaves (links rendered); never saved
    fan: LinkFan | None = None  # the fan its links are made for (read once per batch by _rendered)
    to_render: bool = False  # links still to make: made in the paced loop, just before it leaves
    paced_at: float = 0.0  # time.monotonic() when the bucket let it go
    slot_at: float = 0.0  # ... and when the connection limit and the STOP re-check did (it starts then)
    called_at: tuple[float, float] | None = None  # (wall, monotonic) of the send call; PRIORITY_LANE_SEND_LOG
    # time.monotonic() before the batch's claim read its fans' status: a STOP announced since then
    # (accounts/stop_notices.py) may not be in what it read. -inf (no such read): any notice stops it.
    read_at: float = -math.inf


def _claim(
    *, limit: int, only_ids: list[int] | None, now: dt.datetime, seconds: float | None = None
) -> list[OutboundMessage]:
    """Claim due pending one-to-one rows, at most `seconds` (a batch: _BATCH_SECONDS) of each
    talent's sender time."""
    with transaction.atomic():
        qs = OutboundMessage.objects.filter(campaign__isnull=True, kind__in=ONE_TO_ONE, status=S.PENDING).filter(
            Q(not_before__isnull=True) | Q(not_before__lte=now)
        )
        if only_ids is not None:
            qs = qs.filter(pk__in=only_ids)
        locked = list(qs.select_for_update(skip_locked=True).order_by("lane", "id")[:limit])
        if not locked:
            return []
        talents = {
            t.pk: t for t in Talent.objects.filter(pk__in={m.talent_id for m in locked}).prefetch_related("senders")
        }
        kept: list[OutboundMessage] = []
        parts_by_talent: dict[int, int] = defaultdict(int)
        for message in locked:
            talent = talents[message.talent_id]
            budget = max(1, math.ceil(talent.parts_per_second * (seconds or _BATCH_SECONDS)))
            # Compliance texts always go in this batch; the rest up to the sender's budget.
            if message.lane != Lane.COMPLIANCE and parts_by_talent[talent.pk] >= budget:
                continue
            parts_by_talent[talent.pk] += max(1, message.parts)
            message.talent = talent
            kept.append(message)
        ids = [m.pk for m in kept]
        OutboundMessage.objects.filter(pk__in=ids).update(
            status=S.CLAIMED, attempts=F("attempts") + 1, lease_until=now + _LEASE, claimed_at=now, updated_at=now
        )
        for talent_id, parts in parts_by_talent.items():
            _book(talent_id=talent_id, parts=parts, rate=talents[talent_id].parts_per_second, now=now)
    return kept


def _book(*, talent_id: int, parts: int, rate: float, now: dt.datetime) -> None:
    """The lane books first: push the sender's time line on by these parts, starting now, so the
    campaign batches booked after it yield (one sender clock for every text the talent sends)."""
    clock, _ = SenderClock.objects.select_for_update().get_or_create(talent_id=talent_id)
    clock.next_free_at = max(clock.next_free_at or now, now) + dt.timedelta(seconds=parts / max(rate, 0.001))
    clock.save(update_fields=["next_free_at"])


# One bucket per talent for this process's lifetime, so pacing carries over from batch to batch (a
# bucket per batch would let each batch's first texts out at once). Several lane processes would
# each pace at the full rate: the priority cluster runs one worker by default.
_BUCKETS: dict[int, TokenBucket] = {}


def _bucket(talent: Talent) -> TokenBucket:
    bucket = _BUCKETS.get(talent.pk)
    if bucket is None or bucket.rate != float(talent.parts_per_second):
        bucket = _BUCKETS[talent.pk] = TokenBucket(talent.parts_per_second)
    return bucket


def _inactive(fan_ids: set[int]) -> set[int]:
    """Fans among these who are no longer reachable (texted STOP, were erased) or never were."""
    if not fan_ids:
        return set()
    gone = [Fan.Status.OPTED_OUT, Fan.Status.ERASED]
    return set(Fan.objects.filter(pk__in=fan_ids, status__in=gone).values_list("pk", flat=True))


async def _send_all(rows: list[_Row], backend: BaseSmsBackend, *, recheck: bool = True, close: bool = True) -> None:
    callback = status_callback_url()
    limit = asyncio.Semaphore(settings.CAMPAIGN_SEND_CONCURRENCY)
    # A STOP committed while this batch waits for its turn stops that fan's link or reply too:
    # re-read every STOP_RECHECK_SECONDS (one indexed query, in a thread: the ORM is sync).
    # Inside a caller's transaction (the test suite) another connection cannot see its rows: no re-check.
    watched = {r.message.fan_id for r in rows if r.message.fan_id and r.message.lane != Lane.COMPLIANCE}
    if not recheck:
        watched = set()
    stopped: set[int] = set()
    recheck_state = _Recheck()
    # Rows still to leave per watched fan: the re-check asks only about fans with one (the batch's
    # query shrinks as it goes, instead of re-reading every fan already sent to).
    waiting = Counter(r.message.fan_id for r in rows if r.message.fan_id in watched and not r.suppressed)

    async def still_wanted(row: _Row) -> bool:
        message = row.message
        if message.lane == Lane.COMPLIANCE or message.fan_id not in watched:
            return True
        stopped.update(await recheck_state.current(lambda: {f for f, n in waiting.items() if n > 0} - stopped))
        # The STOPs announced since the batch's read (PostgreSQL's NOTIFY, accounts/stop_notices.py): a STOP
        # answered 200 a millisecond ago stops this text, not the re-check half a second later.
        stopped.update(NOTICES.heard_since((message.fan_id,), row.read_at))
        waiting[message.fan_id] -= 1  # this row is decided now, whichever way
        return message.fan_id not in stopped

    async def send(row: _Row, sms: SmsMessage) -> None:
        try:
            row.called_at = (time.time(), time.monotonic())
            result = await backend.send_async(sms)
        except SmsError as exc:
            row.error = exc
        else:
            row.result_sid, row.result_parts = result.sid, result.parts
        finally:
            limit.release()

    async def dispatch(talent_rows: list[_Row]) -> None:
        """One talent's rows, one at a time, each at its slot: wait for the rate, a free connection
        and the STOP re-check, then start the send. Sequential so that a wait after the bucket (a
        slow re-check, a full connection pool) delays the sends behind it instead of letting them
        all leave at once when it ends: the bucket restarts from when this one really left. Every
        send used to wait for its slot concurrently, and the ones whose slots passed during a slow
        re-check left together (a second at 108 parts on a 100 parts/s short code)."""
        in_flight = []
        for row in talent_rows:
            if row.suppressed:
                continue
            if row.to_render and not _render_row(row):
                continue  # made here, in the slack before its slot, not for the whole batch before the first send
            message = row.message
            talent = message.talent
            bucket = _bucket(talent)
            parts = max(1, message.parts)
            if message.lane == Lane.COMPLIANCE:
                bucket.reserve(parts)  # never waits: counted, so the texts after it wait instead
            else:
                await bucket.acquire(parts)
            row.paced_at = time.monotonic()
            sms = SmsMessage(
                to=message.to_number,
                body=row.body or message.body,
                **lane_address(talent, message.fan_id),  # a sender that may send (sending/senders.py)
                status_callback=f"{callback}?m={message.pk}" if settings.CAMPAIGN_STATUS_CALLBACKS else "",
            )
            await limit.acquire()
            # Checked last, after the waits for the rate and for a free connection, as the
            # campaign path does: what is read here is at most STOP_RECHECK_SECONDS and one query old.
            if not await still_wanted(row):
                limit.release()
                row.suppressed = True
                continue
            row.slot_at = time.monotonic()
            in_flight.append(asyncio.ensure_future(send(row, sms)))
        await asyncio.gather(*in_flight)

    by_talent: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        by_talent[row.message.talent_id].append(row)
    try:
        await asyncio.gather(*(dispatch(talent_rows) for talent_rows in by_talent.values()))
    finally:
        if close:
            await backend.aclose()


class _Recheck:
    """The lane's STOP re-check (one indexed query in a thread, the ORM is sync), started before
    the last one expires, so a send seldom waits for it.

    What a send reads is never older than STOP_RECHECK_SECONDS, counted from when its query
    started (the bound the campaign path keeps). The next query starts `lead` seconds before the
    last result expires (twice the last query's time, at most half the interval); only when it is
    still running at expiry does a send wait for it. Started only at expiry before, every send
    waited for the query in flight: the lane lost query time / (interval + query time) of its
    rate (a 30 ms query: 6 % at 100 parts/s; more while a burst starves PostgreSQL).
    """

    def __init__(self) -> None:
        self.fresh_at = -math.inf  # when the query behind the latest result started
        self.took = 0.0  # how long the last query took
        self.task: asyncio.Future | None = None
        self.started = 0.0
        self.result: set[int] = set()

    async def current(self, fan_ids) -> set[int]:
        """The fans found inactive by a query started at most STOP_RECHECK_SECONDS ago."""
        now = time.monotonic()
        if self.task is not None and self.task.done():
            self._take(now)
        lead = min(STOP_RECHECK_SECONDS / 2, 2 * self.took)
        if self.task is None and now - self.fresh_at >= STOP_RECHECK_SECONDS - lead:
            self.started = now
            self.task = asyncio.ensure_future(asyncio.to_thread(_inactive_in_thread, fan_ids()))
        if now - self.fresh_at >= STOP_RECHECK_SECONDS and self.task is not None:
            # What we know is too old: wait for the query in flight, never skip it for the result
            # before it (two links left up to 2.7 s after their STOP when a slow query was skipped).
            await asyncio.wait([self.task])
            self._take(time.monotonic())
        return self.result

    def _take(self, now: float) -> None:
        assert self.task is not None
        task, self.task = self.task, None
        self.result = set(task.result())
        self.fresh_at, self.took = self.started, now - self.started


def _suppress_unreachable(claimed: list[OutboundMessage], now: dt.datetime) -> list[OutboundMessage]:
    """Only a compliance text (the STOP confirmation itself) goes to a fan who opted out or was
    erased; a join link, code or reply claimed for them is suppressed. A team reply also needs the
    fan to be active still (a pending fan has not joined)."""
    fan_ids = {m.fan_id for m in claimed if m.fan_id and m.lane != Lane.COMPLIANCE}
    gone = _inactive(fan_ids)
    replies = {m.fan_id for m in claimed if m.kind == OutboundMessage.Kind.REPLY and m.fan_id}
    active = set(Fan.objects.filter(pk__in=replies, status=Fan.Status.ACTIVE).values_list("pk", flat=True))
    stopped = [
        m.pk
        for m in claimed
        if m.lane != Lane.COMPLIANCE
        and (m.fan_id in gone or (m.kind == OutboundMessage.Kind.REPLY and m.fan_id not in active))
    ]
    if stopped:
        OutboundMessage.objects.filter(pk__in=stopped).update(
            status=S.SUPPRESSED, lease_until=None, error_message="fan is not active", updated_at=now
        )
    return [m for m in claimed if m.pk not in set(stopped)]


def _inactive_in_thread(fan_ids: set[int]) -> set[int]:
    from django.db import close_old_connections

    try:
        return _inactive(fan_ids)
    finally:
        close_old_connections()


def _rendered(rows: list[_Row]) -> list[_Row]:
    """Make the live links of system texts now, as they leave (issue 15: a stored body holds only a
    placeholder, so no console page, export or archive shows a working link). One query for the
    fans whose links are in this batch; the link's HMAC covers their current nonce and status."""
    linked = [r for r in rows if r.message.kind == OutboundMessage.Kind.SYSTEM and has_links(r.message.body)]
    if not linked:
        return rows
    fans = _link_fans({r.message.fan_id for r in linked if r.message.fan_id})
    for row in linked:
        row.fan, row.to_render = fans.get(row.message.fan_id or 0), True
    return rows


def _render_row(row: _Row) -> bool:
    """Make a row's links (called by the paced loop as the row's turn comes: rendering a whole batch
    before its first send left the sender idle ~1 s a batch). False: nothing to send."""
    row.to_render = False
    try:
        row.body = render_links(row.body or row.message.body, talent=row.message.talent, fan=row.fan)
    except ValueError:  # the fan was erased meanwhile: there is no link to make, nor anyone to send it to
        row.suppressed = True
        return False
    return True


def suppress_pending_for(*, fan: Fan) -> int:
    """A STOP was just applied: nothing but the confirmation may still leave for this number."""
    sql, params = suppress_pending_sql(fan_id=fan.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def suppress_pending_sql(*, fan_id: int) -> tuple[str, list]:
    """suppress_pending_for's UPDATE, for a caller that runs it inside a statement of its own (the
    webhook's STOP, messaging/conversations/stop.py): pending one-to-one texts above the compliance
    lane (join links, codes, replies) become suppressed with the reason."""
    table = OutboundMessage._meta.db_table
    sql = (
        f"UPDATE {table} SET status = %s, error_message = %s, updated_at = %s "  # noqa: S608 - table name
        "WHERE fan_id = %s AND campaign_id IS NULL AND status = %s AND lane > %s"
    )
    return sql, [str(S.SUPPRESSED), _OPTED_OUT_FIRST, timezone.now(), fan_id, str(S.PENDING), int(Lane.COMPLIANCE)]


_OPTED_OUT_FIRST = "the fan opted out before it left"


def _prepare(*, limit: int, only_ids: list[int] | None, seconds: float | None = None) -> tuple[int, list[_Row]]:
    """Claim a batch (`seconds` of sender time, _BATCH_SECONDS by default) and make it ready to
    leave: (rows claimed, rows to send)."""
    now = timezone.now()
    read_at = time.monotonic()  # before the claim and its read of the fans' status
    claimed = _claim(limit=limit, only_ids=only_ids, now=now, seconds=seconds)
    if not claimed:
        return 0, []
    rows = _rendered([_Row(m, read_at=read_at) for m in _suppress_unreachable(claimed, now)])
    for fill in BODY_FILLS:
        for row, body in zip(rows, fill([(r.message.fan_id, r.body or r.message.body) for r in rows]), strict=True):
            row.body = row.body if body is None else body
    return len(claimed), rows


def _finish(rows: list[_Row], batch: str) -> None:
    if settings.PRIORITY_LANE_SEND_LOG:
        _log_sends(settings.PRIORITY_LANE_SEND_LOG, rows, batch)
    for attempt in range(_RECORD_ATTEMPTS):
        try:
            counts = _record(rows, timezone.now())
            break
        except OperationalError as exc:
            # The record's UPDATE and a group of status callbacks (webhooks/status.py) lock rows of
            # the batch in their own orders; PostgreSQL breaks such a deadlock by rolling one back
            # (seen in a 3,000-text bench run). Ours is safe to run again (forward-only statuses).
            if getattr(exc.__cause__, "sqlstate", None) != "40P01" or attempt == _RECORD_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    if counts.get(S.FAILED) or counts.get(S.UNCERTAIN):
        logger.warning("priority lane batch: %s", counts)


_RECORD_ATTEMPTS = 3


def _own_connection(fn, /, **kwargs):
    """fn in a worker thread, on that thread's own database connection, closed after it."""
    try:
        return fn(**kwargs)
    finally:
        connection.close()


# The next batch is claimed this long before the current one's sends end (in a thread, beside them):
# claim, render and record between batches cost 2-4 s of sender time each under a burst (the
# bench's lane clock: 12 s idle of 96), when nothing left.
_PREFETCH_SECONDS = 3.0


async def _stream(rows: list[_Row], backend: BaseSmsBackend, *, limit: int, until: float) -> int:
    """Batches back to back in one event loop until `until` (time.monotonic()): each next batch is
    claimed in a thread while the current one's last sends leave, and each batch is recorded in a
    thread while the next one sends. One bucket per talent paces across them (_BUCKETS), so the
    seam between two batches is one slot, like any other. Returns the rows claimed after `rows`."""
    more = 0
    records: list[asyncio.Future] = []
    try:
        while rows:
            per_talent: dict[int, float] = defaultdict(float)
            for row in rows:
                per_talent[row.message.talent_id] += max(1, row.message.parts) / max(
                    row.message.talent.parts_per_second, 0.001
                )
            seconds = max(per_talent.values())
            go = asyncio.Event()
            upcoming = None
            # The next batch must end before `until` even at half its pace (a burst holds the lane
            # off the CPU), so the task stays inside the queue's timeout: near the end a shorter
            # one. A full batch or none left the sender idle for an unprefetched claim near the
            # end of every task (1-3 s under a burst).
            next_seconds = _batch_seconds(until - time.monotonic() - seconds)
            if next_seconds:

                async def claim_next(
                    delay: float = max(0.0, seconds - _PREFETCH_SECONDS), go: asyncio.Event = go, span=next_seconds
                ):
                    try:
                        await asyncio.wait_for(go.wait(), timeout=delay)
                    except TimeoutError:
                        pass  # the usual case: claim while the last sends leave
                    return await asyncio.to_thread(_own_connection, _prepare, limit=limit, only_ids=None, seconds=span)

                upcoming = asyncio.ensure_future(claim_next())
            batch = f"{os.getpid()}:{time.monotonic():.3f}"
            await _send_all(rows, backend, close=False)
            go.set()  # the batch ended sooner than its parts say (suppressed rows): claim now
            records.append(asyncio.ensure_future(asyncio.to_thread(_own_connection, _finish, rows=rows, batch=batch)))
            if upcoming is None:
                break
            claimed, rows = await upcoming
            more += claimed
    finally:
        # Every batch's record runs to its end, even when an earlier one failed: a batch that was
        # sent and never recorded would stay claimed and end "uncertain" (never resent).
        outcomes = await asyncio.gather(*records, return_exceptions=True)
        await backend.aclose()
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if failed:
        raise failed[0]
    return more


def _shortest_batch() -> float:
    """A twentieth of a batch (1 s): a shorter one is not worth a claim."""
    return _BATCH_SECONDS / 20


def _batch_seconds(left: float) -> float:
    """Sender time for a batch that must end within `left` seconds even at half its pace: a full
    batch (_BATCH_SECONDS) when there is room, a shorter one near a deadline, 0 for none."""
    seconds = min(_BATCH_SECONDS, left / 2)
    return seconds if seconds >= _shortest_batch() else 0.0


def _run(coro):
    """asyncio.run() on uvloop's event loop, the GIL handed over often while it runs (pacing.py,
    gil_hands_over_often): the lane's loop is its send path (a paced sleep, an HTTP request and its
    answer per text), and uvloop's loop and transports in C cost less CPU a send than asyncio's
    pure-Python selector loop (bench/lane_cpu.py). asyncio's own loop when uvloop is not
    installed; the coroutines are the same either way."""
    with gil_hands_over_often():
        try:
            import uvloop
        except ImportError:  # pragma: no cover - a pinned dependency (requirements.txt)
            return asyncio.run(coro)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)


def priority_send_batch(
    *, limit: int | None = None, only_ids: list[int] | None = None, backend=None, until: float | None = None
) -> int:
    """Claim, send and record one batch of the lane. Returns how many rows it claimed.

    With `until` (a time.monotonic() deadline; the sender loop) on PostgreSQL outside a transaction,
    batches follow back to back until then (`_stream`): the sender stands idle for one slot between
    two batches instead of for the claim, render and record."""
    limit = limit or settings.PRIORITY_LANE_BATCH
    in_transaction = connection.in_atomic_block  # another thread's connection could not see its rows
    if not in_transaction:
        NOTICES.start()  # listening before the claim reads its fans' status (once per process)
    # Before a deadline the batch fits it (one short batch at least: the loop asked for one).
    seconds = None
    if until is not None:
        seconds = _batch_seconds(until - time.monotonic()) or _shortest_batch()
    claimed, rows = _prepare(limit=limit, only_ids=only_ids, seconds=seconds)
    if not rows:
        return claimed
    backend = backend or get_backend()
    if until is not None and only_ids is None and not in_transaction and connection.vendor == "postgresql":
        return claimed + _run(_stream(rows, backend, limit=limit, until=until))
    batch = f"{os.getpid()}:{time.monotonic():.3f}"
    _run(_send_all(rows, backend, recheck=not in_transaction))
    _finish(rows, batch)
    return claimed
