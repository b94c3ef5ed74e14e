"""The pipelined sender a worker runs for one campaign (campaign_send_batches outside a transaction).

One event loop sends batch after batch as one stream: the next batch is claimed and starts leaving
while the previous one's last requests are still in flight, under one concurrency limit shared by
all batches; each batch is recorded as soon as its own sends are done; HTTP connections stay open
from batch to batch; at most BATCHES_IN_FLIGHT batches are in memory, whatever the campaign's size.

The database work (claim, STOP re-checks, record) goes through one of two doors:
- PostgreSQL: `AsyncPgDb`, psycopg's async connection on the event loop itself. Profiled on the
  send benchmark, running the Django ORM in a helper thread instead spent much of the worker's
  time in GIL hand-offs: each round trip released the GIL and then queued for it behind the busy
  event loop, so a 30 ms claim took 150-300 ms and the database thread became the bottleneck.
  Here every round trip is just an await, and the SQL is the same as the sync path's (built by
  the statement builders in campaign_send.py).
- Other databases (SQLite, the embedded default): `ThreadDb`, the sync services in a database
  thread, as simple as it gets.
The exactly-once rules are the same on both doors: see campaign_send.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Fan
from messaging.campaigns.models import Campaign
from messaging.sending import engine as cs
from messaging.sending.models import SenderClock
from messaging.sending.pacing import sender_backlog
from messaging.sms.backends import BaseSmsBackend
from messaging.sms.models import OutboundMessage

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

S = OutboundMessage.Status
BATCHES_IN_FLIGHT = 3


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


class ThreadDb:
    """The sync services in database threads (any database; SQLite uses this one).

    STOP re-checks get their own thread (and connection): the main one may be waiting for the
    sender's time line, and a re-check queued behind it would hold up the very sends that free it.
    """

    def __init__(self, campaign_id: int, deadline: float) -> None:
        self.campaign_id = campaign_id
        self.deadline = deadline
        self.loop = asyncio.get_running_loop()
        self.main = ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaign-db")
        self.stops = ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaign-stops")

    def _claim_ahead(self) -> tuple[cs.Batch, float, float] | None:
        talent_id = Campaign.objects.filter(pk=self.campaign_id).values_list("talent_id", flat=True).first()
        if talent_id is None:
            return None
        while (wait := _wait_for_sender(sender_backlog(talent_id=talent_id))) is not None:
            if time.monotonic() > self.deadline:
                return None
            time.sleep(wait)
        batch = cs.campaign_claim_batch(campaign_id=self.campaign_id)
        if batch is None:
            return None
        if not batch.rows:
            return batch, 0.0, 0.0
        return batch, *cs._reserve(batch)

    async def claim(self) -> tuple[cs.Batch, float, float] | None:
        return await self.loop.run_in_executor(self.main, self._claim_ahead)

    async def stopped(self, batch: cs.Batch) -> set[int]:
        return await self.loop.run_in_executor(self.stops, cs.stopped_fans, batch)

    async def record(self, batch: cs.Batch, outcomes: list[cs.Outcome]) -> dict[str, int]:
        return await self.loop.run_in_executor(self.main, lambda: cs.batch_record(batch=batch, outcomes=outcomes))

    async def close(self) -> None:
        for executor in (self.main, self.stops):
            await self.loop.run_in_executor(executor, _close_db)
            executor.shutdown(wait=True)


CLAIM_SQL = (
    f"SELECT o.id, o.fan_id, o.to_number, o.attempts, f.status, f.first_name, f.city, f.time_zone, f.last_sent_at "  # noqa: S608
    f"FROM {OutboundMessage._meta.db_table} o LEFT JOIN {Fan._meta.db_table} f ON f.id = o.fan_id "
    "WHERE o.campaign_id = %s AND o.status = %s AND o.not_before <= %s "
    "ORDER BY o.not_before, o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED"
)
RESERVE_SQL = (
    f"UPDATE {SenderClock._meta.db_table} "  # noqa: S608
    "SET next_free_at = GREATEST(COALESCE(next_free_at, %s), %s) + make_interval(secs => %s) "
    "WHERE talent_id = %s RETURNING next_free_at"
)


class AsyncPgDb:
    """PostgreSQL through psycopg's async connections, on the event loop (no threads, no GIL
    hand-offs). Two connections: one for claims and records (one transaction at a time, under a
    lock), one for STOP re-checks, so a re-check never waits behind a claim.

    The campaign's text, links and talent settings are read once per task (ClaimContext): a task
    lives CAMPAIGN_TASK_SECONDS, and the campaign's status (pause, cancel) is still read by every
    claim.
    """

    def __init__(self, campaign_id: int, deadline: float, ctx: cs.ClaimContext, conninfo: dict) -> None:
        self.campaign_id = campaign_id
        self.deadline = deadline
        self.ctx = ctx
        self.conninfo = conninfo
        self.lock = asyncio.Lock()
        self.conn: psycopg.AsyncConnection | None = None  # opened by the first claim()
        self.stops_conn: psycopg.AsyncConnection | None = None  # opened by the first stopped()
        self.effects: ThreadPoolExecutor | None = None

    @classmethod
    def prepare(cls, campaign_id: int, deadline: float) -> AsyncPgDb | None:
        """Sync set-up before the loop starts; None when the campaign is gone."""
        campaign = Campaign.objects.select_related("talent").filter(pk=campaign_id).first()
        if campaign is None:
            return None
        SenderClock.objects.get_or_create(talent_id=campaign.talent_id)
        params = connection.get_connection_params()
        for key in ("cursor_factory", "context"):  # Django's sync cursor and adapters
            params.pop(key, None)
        return cls(campaign_id, deadline, cs.ClaimContext.load(campaign), params)

    async def _connect(self) -> psycopg.AsyncConnection:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(**self.conninfo, autocommit=True)
        await conn.execute("SET TIME ZONE 'UTC'")
        return conn

    async def claim(self) -> tuple[cs.Batch, float, float] | None:
        if self.conn is None:
            self.conn = await self._connect()
        while (wait := _wait_for_sender(await self._backlog())) is not None:
            if time.monotonic() > self.deadline:
                return None
            await asyncio.sleep(wait)
        ctx = self.ctx
        now = timezone.now()
        lease_until = now + dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
        async with self.lock, self.conn.transaction():
            cursor = await self.conn.execute(
                f"SELECT status FROM {Campaign._meta.db_table} WHERE id = %s",  # noqa: S608
                [self.campaign_id],
            )
            status = await cursor.fetchone()
            if status is None or status[0] != Campaign.Status.SENDING:
                return None
            cursor = await self.conn.execute(
                CLAIM_SQL, [self.campaign_id, str(S.PENDING), now, cs.batch_limit(ctx.rate)]
            )
            rows = [dict(zip(cs.CLAIM_FIELDS, row, strict=True)) for row in await cursor.fetchall()]
            if not rows:
                return None
            plan = cs.plan_claim(ctx, rows, now)
            for sql, params in cs.claim_statements(plan, now, lease_until):
                await self.conn.execute(sql, params)
        batch = cs.make_batch(ctx, plan, now, lease_until)
        if not batch.rows:
            return batch, 0.0, 0.0
        return batch, *await self._reserve(batch)

    async def _backlog(self) -> float:
        assert self.conn is not None  # called by claim() once connected
        async with self.lock:
            cursor = await self.conn.execute(
                f"SELECT next_free_at FROM {SenderClock._meta.db_table} WHERE talent_id = %s",  # noqa: S608
                [self.ctx.talent_id],
            )
            row = await cursor.fetchone()
        if row is None or row[0] is None:
            return 0.0
        return max(0.0, (row[0] - timezone.now()).total_seconds())

    async def _reserve(self, batch: cs.Batch) -> tuple[float, float]:
        """As cs._reserve: book the batch's segments on the sender's time line in one statement."""
        duration = batch.parts / batch.rate
        now = timezone.now()
        assert self.conn is not None  # called by claim() once connected
        async with self.lock:
            cursor = await self.conn.execute(RESERVE_SQL, [now, now, duration, batch.talent_id])
            (next_free,) = await cursor.fetchone()  # type: ignore[misc]  # RETURNING: prepare() made the row
        return cs.send_window(batch, max(0.0, (next_free - dt.timedelta(seconds=duration) - now).total_seconds()))

    async def stopped(self, batch: cs.Batch) -> set[int]:
        fan_ids = [r.fan_id for r in batch.rows if r.fan_id is not None]
        if not fan_ids:
            return set()
        if self.stops_conn is None:
            self.stops_conn = await self._connect()
        cursor = await self.stops_conn.execute(
            f"SELECT id FROM {Fan._meta.db_table} WHERE id = ANY(%s::bigint[]) AND status <> %s",  # noqa: S608
            [fan_ids, str(Fan.Status.ACTIVE)],
        )
        return {row[0] for row in await cursor.fetchall()}

    async def record(self, batch: cs.Batch, outcomes: list[cs.Outcome]) -> dict[str, int]:
        assert self.conn is not None  # the batch came from claim(), which connected
        async with self.lock, self.conn.transaction():
            for sql, params in cs.record_statements(batch, outcomes, timezone.now()):
                await self.conn.execute(sql, params)
        errors = cs.outcome_errors(outcomes)
        if errors:  # rare (opt-outs, dead numbers, carrier filtering): the ORM services, in a thread
            if self.effects is None:
                self.effects = ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaign-effects")
            await asyncio.get_running_loop().run_in_executor(
                self.effects,
                lambda: cs.apply_error_effects(talent_id=batch.talent_id, campaign_id=batch.campaign_id, errors=errors),
            )
        return cs.outcome_counts(outcomes)

    async def close(self) -> None:
        for conn in (self.conn, self.stops_conn):
            if conn is not None:
                await conn.close()
        if self.effects is not None:
            await asyncio.get_running_loop().run_in_executor(self.effects, _close_db)
            self.effects.shutdown(wait=True)


def run_pipeline(*, campaign_id: int, backend: BaseSmsBackend, deadline: float, report: cs.RunReport) -> None:
    """Send due batches of one campaign until none is due or the deadline passes."""
    pg = None
    if connection.vendor == "postgresql":
        pg = AsyncPgDb.prepare(campaign_id, deadline)
        if pg is None:
            return
    asyncio.run(_pipeline(campaign_id=campaign_id, backend=backend, deadline=deadline, report=report, pg=pg))


async def _pipeline(
    *, campaign_id: int, backend: BaseSmsBackend, deadline: float, report: cs.RunReport, pg: AsyncPgDb | None
) -> None:
    db = pg if pg is not None else ThreadDb(campaign_id, deadline)
    requests = asyncio.Semaphore(settings.CAMPAIGN_SEND_CONCURRENCY)
    slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)
    running: set[asyncio.Task] = set()

    async def watch_stops(batch: cs.Batch, stopped: set[int]) -> None:
        while True:
            await asyncio.sleep(cs.STOP_RECHECK_SECONDS)
            stopped.update(await db.stopped(batch))

    async def send_and_record(batch: cs.Batch, start_at: float, send_deadline: float) -> None:
        watcher = None
        try:
            stopped = await db.stopped(batch)
            watcher = asyncio.create_task(watch_stops(batch, stopped))
            outcomes = await cs._send_rows(
                batch,
                backend,
                send_deadline=send_deadline,
                start_at=start_at,
                close=False,
                limit=requests,
                stopped=stopped,
            )
            watcher.cancel()
            cs._add_counts(report, await db.record(batch, outcomes))
        finally:
            if watcher is not None:
                watcher.cancel()
            slots.release()

    try:
        while True:
            await slots.acquire()
            claimed = await db.claim() if time.monotonic() < deadline else None
            if claimed is None:
                slots.release()
                break
            batch, start_at, send_deadline = claimed
            report.batches += 1
            if not batch.rows:
                slots.release()
                continue
            task = asyncio.create_task(send_and_record(batch, start_at, send_deadline))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        # Let every batch on the wire finish and be recorded; a failed one is left to its lease.
        for result in await asyncio.gather(*running, return_exceptions=True):
            if isinstance(result, BaseException):
                logger.error("campaign %s: a batch failed: %r", campaign_id, result)
        await backend.aclose()
        await db.close()
