"""The pipelined sender a worker runs for one campaign (campaign_send_batches outside a transaction).

One event loop sends batch after batch as one stream: the next batch is claimed and starts leaving
while the previous one's last requests are still in flight, under one concurrency limit shared by
all batches; each batch is recorded as soon as its own sends are done; HTTP connections stay open
from batch to batch; at most BATCHES_IN_FLIGHT batches are in memory, whatever the campaign's size.

The database work (`SendDb`: claim, STOP re-checks, rate reservation, backlog, record) is the same
operations as the sync services (claim.py, pacing.py, record.py, run through sql.py's drivers),
executed through one of two doors:
- PostgreSQL: `PgDoor`, psycopg's async connection on the event loop itself. Profiled on the
  send benchmark, running the Django ORM in a helper thread instead spent much of the worker's
  time in GIL hand-offs: each round trip released the GIL and then queued for it behind the busy
  event loop, so a 30 ms claim took 150-300 ms and the database thread became the bottleneck.
  Here every round trip is just an await.
- Other databases (SQLite, the embedded default): `ThreadDoor`, Django's connection in a
  database thread, as simple as it gets.
The exactly-once rules are the same on both doors: see engine.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.stop_notices import NOTICES
from messaging.campaigns.models import Campaign
from messaging.sending.claim import Batch, ClaimContext, batch_limit, claim_op, lease_from, make_batch, stopped_op
from messaging.sending.models import SenderClock
from messaging.sending.pacing import backlog_op, gil_hands_over_often, reserve_lanes_op, reserve_op
from messaging.sending.record import (
    RunReport,
    _add_counts,
    apply_error_effects,
    outcome_counts,
    outcome_errors,
    record_op,
    unregistered_senders,
)
from messaging.sending.send import STOP_RECHECK_SECONDS, Outcome, _send_rows, lanes_window, send_window
from messaging.sending.sql import Dialect, Op, run_async, run_sync
from messaging.sms.backends import BaseSmsBackend
from messaging.sms.errors import UNREGISTERED_CODES

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

BATCHES_IN_FLIGHT = 3
P = ParamSpec("P")
T = TypeVar("T")


def _close_db() -> None:
    from django.db import connections

    connections.close_all()


def _wait_for_sender(backlog: float) -> float | None:
    """Seconds to wait before claiming, None to claim now.

    Claim only what can leave within its lease: while the sender's time line is booked further
    ahead than an eighth of a lease (other workers' batches), wait instead of claiming rows that
    would sit claimed, miss their send deadline and go back.
    """
    ahead = settings.CAMPAIGN_LEASE_SECONDS / 8
    return min(1.0, backlog - ahead) if backlog > ahead else None


class ThreadDoor:
    """Operations run by run_sync in a database thread of their own (its own Django connection)."""

    def __init__(self, name: str) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, op: Callable[Concatenate[Dialect, P], Op[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: run_sync(op, *args, **kwargs))

    async def orm(self, work: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, work)

    async def close(self) -> None:
        await self.orm(_close_db)
        self.pool.shutdown(wait=True)


class PgDoor:
    """Operations run by run_async on a psycopg async connection on the event loop (no threads,
    no GIL hand-offs), one operation at a time. ORM work (error effects: rare) goes to a thread."""

    def __init__(self, conninfo: dict) -> None:
        self.conninfo = conninfo
        self.lock = asyncio.Lock()
        self.conn: psycopg.AsyncConnection | None = None  # opened by the first run()
        self.effects: ThreadDoor | None = None

    async def run(self, op: Callable[Concatenate[Dialect, P], Op[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self.lock:
            if self.conn is None:
                import psycopg

                self.conn = await psycopg.AsyncConnection.connect(**self.conninfo, autocommit=True)
                await self.conn.execute("SET TIME ZONE 'UTC'")
            return await run_async(self.conn, op, *args, **kwargs)

    async def orm(self, work: Callable[[], Any]) -> Any:
        if self.effects is None:
            self.effects = ThreadDoor("campaign-effects")
        return await self.effects.orm(work)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        if self.effects is not None:
            await self.effects.close()


Door = ThreadDoor | PgDoor


class SendDb:
    """The pipeline's database work for one campaign, through two doors of one kind: `main` for
    claims, reservations and records, `stops` for STOP re-checks, so a re-check never waits behind
    a claim that is waiting for the sender's time line.

    The campaign's text, links and talent settings are read once per task (ClaimContext): a task
    lives CAMPAIGN_TASK_SECONDS, and the campaign's status (pause, cancel) is still read by every
    claim.
    """

    def __init__(self, ctx: ClaimContext, deadline: float, main: Door, stops: Door) -> None:
        self.ctx = ctx
        self.deadline = deadline
        self.main = main
        self.stops = stops
        self.reserve_latency = 0.0  # of the last pooled claim's lane reservation (seconds)

    @classmethod
    def prepare(cls, campaign_id: int, deadline: float) -> SendDb | None:
        """Sync set-up before the loop starts; None when the campaign is gone."""
        campaign = Campaign.objects.select_related("talent").filter(pk=campaign_id).first()
        if campaign is None:
            return None
        SenderClock.objects.get_or_create(talent_id=campaign.talent_id)  # reserve_op updates it
        ctx = ClaimContext.load(campaign)
        if connection.vendor != "postgresql":
            return cls(ctx, deadline, ThreadDoor("campaign-db"), ThreadDoor("campaign-stops"))
        params = connection.get_connection_params()
        for key in ("cursor_factory", "context"):  # Django's sync cursor and adapters
            params.pop(key, None)
        return cls(ctx, deadline, PgDoor(params), PgDoor(params))

    async def claim(self) -> tuple[Batch, float, float, dict[int, float] | None] | None:
        ctx = self.ctx
        if ctx.pooled:
            return await self._claim_pooled()
        while (wait := _wait_for_sender(await self.main.run(backlog_op, ctx.talent_id))) is not None:
            if time.monotonic() > self.deadline:
                return None
            await asyncio.sleep(wait)
        now = timezone.now()
        lease_until = lease_from(now)
        plan = await self.main.run(claim_op, ctx, now, lease_until, batch_limit(ctx.rate))
        if plan is None:
            return None
        batch = make_batch(ctx, plan, now, lease_until)
        if not batch.rows:
            return batch, 0.0, 0.0, None
        delay = await self.main.run(reserve_op, batch.talent_id, batch.parts, batch.rate, timezone.now())
        return batch, *send_window(batch, delay), None

    async def _claim_pooled(self) -> tuple[Batch, float, float, dict[int, float] | None] | None:
        """A pooled talent's claim: budgeted per lane inside the claim (claim.py), so while every
        lane that has due rows is booked ahead the claim takes nothing and we wait a little."""
        ctx = self.ctx
        assert ctx.pool is not None
        while True:
            now = timezone.now()
            lease_until = lease_from(now)
            plan = await self.main.run(claim_op, ctx, now, lease_until, batch_limit(ctx.pool.total_rate))
            if plan is None:
                return None
            if plan.claimed or not plan.held or time.monotonic() > self.deadline:
                break
            await asyncio.sleep(0.25)
        batch = make_batch(ctx, plan, now, lease_until)
        if not batch.rows:
            return batch, 0.0, 0.0, None
        before = time.monotonic()
        delays = await self.main.run(reserve_lanes_op, ctx.pool, batch.lane_parts(), timezone.now())
        starts, send_deadline = lanes_window(batch, delays)
        # The slices' starts are read as seconds from the reservation's answer; how long that took
        # (a busy database) is how much earlier they may really begin: the fence uses the earlier.
        self.reserve_latency = time.monotonic() - before
        return batch, min(starts.values()), send_deadline, starts

    async def open_stops(self) -> None:
        """Connect the STOP re-check's door while the first claim runs: the first batch re-checks
        its fans before its first text, and connecting then (~0.2 s under load) delayed every
        task's first text by as much, at every task boundary."""
        await self.stops.run(stopped_op, [])

    async def stopped(self, batch: Batch) -> set[int]:
        return await self.stops.run(stopped_op, [r.fan_id for r in batch.rows if r.fan_id is not None])

    async def record(self, batch: Batch, outcomes: list[Outcome]) -> dict[str, int]:
        await self.main.run(record_op, batch, outcomes, timezone.now())
        errors = outcome_errors(outcomes)
        if errors:  # rare (opt-outs, dead numbers, carrier filtering): the ORM services
            await self.main.orm(
                lambda: apply_error_effects(talent_id=batch.talent_id, campaign_id=batch.campaign_id, errors=errors)
            )
        if any(o.error is not None and o.error.code in UNREGISTERED_CODES for o in outcomes):
            # 30034: a sender was held back. Claims follow the new pool from now on, not from the
            # next task: the rest of this one would keep claiming rows for the refused number.
            await self.main.orm(lambda: self._reload(batch, outcomes))
        return outcome_counts(outcomes)

    def _reload(self, batch: Batch, outcomes: list[Outcome]) -> None:
        if unregistered_senders(batch, outcomes):
            campaign = Campaign.objects.select_related("talent").filter(pk=self.ctx.campaign_id).first()
            if campaign is not None:
                self.ctx = ClaimContext.load(campaign)

    async def close(self) -> None:
        for door in (self.main, self.stops):
            await door.close()


def run_pipeline(
    *,
    campaign_id: int,
    backend: BaseSmsBackend,
    deadline: float,
    report: RunReport,
    hand_over: Callable[[], bool] | None = None,
) -> None:
    """Send due batches of one campaign until none is due or the deadline passes.

    `hand_over` (sync, run in a database thread) is called once when claiming stops because the
    deadline passed, before the batches on the wire are done: it queues the next send task, which
    starts while this one's booked slices still send and books its own behind them on the lanes'
    clocks (claims are held while a lane is booked ahead), so the sender never idles between
    tasks. Its answer (a task was queued) goes to `report.handed_over`."""
    db = SendDb.prepare(campaign_id, deadline)
    if db is None:
        return
    NOTICES.start()  # listening before the first batch reads its fans' status (once per process)
    with gil_hands_over_often():  # the loop beside the claim and record threads (pacing.py)
        asyncio.run(
            _pipeline(
                campaign_id=campaign_id, backend=backend, deadline=deadline, report=report, db=db, hand_over=hand_over
            )
        )


async def _pipeline(
    *,
    campaign_id: int,
    backend: BaseSmsBackend,
    deadline: float,
    report: RunReport,
    db: SendDb,
    hand_over: Callable[[], bool] | None = None,
) -> None:
    requests = asyncio.Semaphore(settings.CAMPAIGN_SEND_CONCURRENCY)
    slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)
    lane_buckets: dict = {}  # one bucket per lane for every batch in flight (send._lane_bucket)
    running: set[asyncio.Task] = set()
    # Where each lane's time booked by this task ends (monotonic), and whether the next task was
    # queued: from then on a lane's texts stay inside our booking (send.py), the next task's
    # slices begin where it ends. A busy machine slips our schedule behind what we booked.
    booked_until: dict[tuple[int | None, str], float] = {}
    handed = {"over": False, "calling": False}

    def past_booking(lane, now: float) -> bool:
        end = booked_until.get((lane.sender_id, lane.carrier))
        return handed["over"] and end is not None and now > end

    def book(batch: Batch, lane_starts: dict[int, float] | None) -> None:
        if not lane_starts or batch.pool is None:
            return
        for index, parts in batch.lane_parts().items():
            lane = batch.pool.lanes[index]
            end = lane_starts.get(index, time.monotonic()) - db.reserve_latency + parts / lane.rate
            key = (lane.sender_id, lane.carrier)
            booked_until[key] = max(booked_until.get(key, end), end)

    async def watch_stops(batch: Batch, stopped: set[int]) -> None:
        while True:
            await asyncio.sleep(STOP_RECHECK_SECONDS)
            stopped.update(await db.stopped(batch))

    async def send_and_record(
        batch: Batch, start_at: float, send_deadline: float, lane_starts: dict[int, float] | None
    ) -> None:
        watcher = None
        try:
            read_at = time.monotonic()  # STOPs announced from now on may not be in what db.stopped reads
            stopped = await db.stopped(batch)
            watcher = asyncio.create_task(watch_stops(batch, stopped))
            outcomes = await _send_rows(
                batch,
                backend,
                send_deadline=send_deadline,
                start_at=start_at,
                close=False,
                limit=requests,
                stopped=stopped,
                heard_since=read_at,
                lane_starts=lane_starts,
                lane_buckets=lane_buckets,
                past_booking=past_booking,
            )
            watcher.cancel()
            _add_counts(report, await db.record(batch, outcomes))
        finally:
            if watcher is not None:
                watcher.cancel()
            slots.release()

    async def hand_over_at_deadline() -> None:
        """At the deadline, not when a slot next frees (up to a batch later): the next task
        starts while our booked slices still send."""
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        assert hand_over is not None
        handed["calling"] = True
        try:
            queued = await db.main.orm(hand_over)
        except Exception:  # the broker is down: the task re-enqueues at its end, as before
            logger.exception("campaign %s: could not queue the next send task early", campaign_id)
            return
        report.handed_over = handed["over"] = bool(queued)

    handing_over = asyncio.create_task(hand_over_at_deadline()) if hand_over is not None else None
    opening = asyncio.create_task(db.open_stops())
    try:
        while True:
            await slots.acquire()
            claimed = await db.claim() if time.monotonic() < deadline else None
            if claimed is None:
                slots.release()
                break
            batch, start_at, send_deadline, lane_starts = claimed
            report.batches += 1
            if not batch.rows:
                slots.release()
                continue
            book(batch, lane_starts)
            task = asyncio.create_task(send_and_record(batch, start_at, send_deadline, lane_starts))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        with contextlib.suppress(Exception):  # a failed connect shows again at the first re-check
            await opening
        if handing_over is not None:
            if not (handed["calling"] or time.monotonic() >= deadline):
                handing_over.cancel()  # out of work before the deadline: no successor needed
            with contextlib.suppress(asyncio.CancelledError):
                await handing_over
        # Let every batch on the wire finish and be recorded; a failed one is left to its lease.
        for result in await asyncio.gather(*running, return_exceptions=True):
            if isinstance(result, BaseException):
                logger.error("campaign %s: a batch failed: %r", campaign_id, result)
        await backend.aclose()
        await db.close()
