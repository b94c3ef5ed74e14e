"""Send: a claimed batch leaves concurrently, paced by the sender's rate, within its lease.

Rule 3 of exactly once (see engine.py): a worker stops starting sends well before its lease ends
(send_window), so an expired lease means the worker is dead. A timeout after the request left is
`uncertain`: reconciled by the sweeper, never resent blindly. No database work happens inside
the send loop; STOPs committed meanwhile reach it through the caller's `stopped` set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from accounts.stop_notices import NOTICES
from messaging.sending.claim import Batch, ClaimedRow, stopped_fans
from messaging.sending.pacing import TokenBucket, gil_hands_over_often, reserve_lanes_op, sender_window
from messaging.sending.senders import Lane
from messaging.sending.sql import run_sync
from messaging.sms.backends import BaseSmsBackend, SendResult, SmsError, SmsMessage, get_backend
from messaging.sms.errors import RETRYABLE_CODES, UNDELIVERABLE_CODES, UNREGISTERED_CODES

THROTTLE_CODES = RETRYABLE_CODES  # the one table: messaging/sms/errors.py
# In-batch retries of a throttled or 5xx send, in seconds; then the row goes back with a backoff.
RETRY_DELAYS = (0.5, 1.5)
STOP_RECHECK_SECONDS = 0.5


def status_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status/"


@dataclass
class Outcome:
    row: ClaimedRow
    kind: str  # sent | failed | retry | uncertain | unsent | stopped
    result: SendResult | None = None
    error: SmsError | None = None
    # The provider was called in this batch: it answered (sent, refused, throttled) or the request
    # left and no answer came (uncertain). Only such an outcome is an attempt (record.py).
    called: bool = False


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
    heard_since: float | None = None,
    lane_starts: dict[int, float] | None = None,
    lane_buckets: dict[tuple[int | None, str], TokenBucket] | None = None,
    past_booking: Callable[[Lane, float], bool] | None = None,
) -> list[Outcome]:
    stopped = stopped if stopped is not None else set()  # fan ids; kept current by the caller
    limit = limit or asyncio.Semaphore(settings.CAMPAIGN_SEND_CONCURRENCY)
    media = (batch.media_url,) if batch.media_url else ()
    callback = status_callback_url()
    # One bucket per lane (a pooled talent: sender x carrier), each at its lane's rate from the
    # start of its reserved slice; a one-lane talent has the one bucket at its rate.
    lanes = {lane.index: lane for lane in batch.pool.lanes} if batch.pool is not None and lane_starts else {}
    # Carriers meter each lane strictly: capacity 1 (no burst), so in any one second a lane sends
    # at most its rate plus one.
    buckets = {
        i: _lane_bucket(lane, lane_starts.get(i, start_at), lane_buckets)
        for i, lane in lanes.items()
        if lane_starts is not None
    }
    bucket = TokenBucket(batch.rate, capacity=max(1.0, batch.rate / 10), start_at=start_at)

    async def one(row: ClaimedRow) -> Outcome:
        lane = lanes.get(row.lane)
        sender, service = (
            (lane.from_, lane.messaging_service_sid) if lane else (batch.sender, batch.messaging_service_sid)
        )
        row_bucket = buckets.get(row.lane, bucket)
        # A shared lane bucket (pipeline) serves every batch in flight: this row's slot comes no
        # earlier than its batch's booked start on the lane (send._lane_bucket).
        not_before = lane_starts.get(row.lane, start_at) if lane is not None and lane_starts else None
        message = SmsMessage(
            to=row.to,
            body=row.body,
            from_=sender if not service else "",
            messaging_service_sid=service,
            media_urls=media,
            status_callback=f"{callback}?m={row.id}" if settings.CAMPAIGN_STATUS_CALLBACKS else "",
            validity_period=batch.validity_period or None,
        )
        async with limit:
            delays = RETRY_DELAYS
            called = False  # did any try of this batch reach the provider
            for attempt in range(len(delays) + 1):
                await row_bucket.acquire(row.parts, not_before=not_before)
                if lane is not None and past_booking is not None and past_booking(lane, time.monotonic()):
                    # Our task has handed over (pipeline.py) and this lane's slot now is past the
                    # time it booked: the next task's slices start there. Sending late would put
                    # two tasks on the lane at once (over rate + 1): the next task sends it.
                    return Outcome(row, "unsent", called=called)
                if row.fan_id in stopped:
                    return Outcome(row, "stopped", called=called)  # STOP arrived after the claim: never sent
                if (
                    row.fan_id is not None
                    and heard_since is not None
                    and NOTICES.heard_since((row.fan_id,), heard_since)
                ):
                    # Announced as it committed (accounts/stop_notices.py), before the next re-check.
                    stopped.add(row.fan_id)
                    return Outcome(row, "stopped", called=called)
                if time.monotonic() > send_deadline:
                    return Outcome(row, "unsent", called=called)  # the lease is running out: hand it back unsent
                try:
                    return Outcome(row, "sent", result=await backend.send_async(message), called=True)
                except SmsError as error:
                    if error.uncertain:
                        return Outcome(row, "uncertain", error=error, called=True)
                    if _is_retryable(error):
                        called = True  # the provider answered 429 / 5xx
                        if attempt < len(delays) and time.monotonic() + delays[attempt] < send_deadline:
                            await asyncio.sleep(delays[attempt])
                            continue
                        return Outcome(row, "retry", error=error, called=True)
                    if error.code in UNREGISTERED_CODES:
                        # 30034: the sender is at fault, not the fan. Back to pending; the sender is
                        # held back when the batch is recorded, so a later claim sends it from
                        # another sender of the pool (record.unregistered_senders).
                        return Outcome(row, "retry", error=error, called=True)
                    if not error.permanent:
                        # Provably not sent (connection refused, DNS ...): a later batch tries again.
                        return Outcome(row, "retry", error=error, called=called)
                    return Outcome(row, "failed", error=error, called=True)
                except Exception as error:  # a backend bug: the request may have left
                    return Outcome(row, "uncertain", error=SmsError(str(error)[:200], uncertain=True), called=True)
            return Outcome(row, "retry", called=called)

    try:
        return await asyncio.gather(*(one(row) for row in in_slot_order(batch, lane_starts)))
    finally:
        if close:
            await backend.aclose()


def _lane_bucket(lane, start: float, shared: dict[tuple[int | None, str], TokenBucket] | None) -> TokenBucket:
    """The lane's bucket; with `shared` (the pipeline's, for all its batches in flight) one bucket
    per lane across batches. Batches each with a bucket of their own overlap as soon as one runs
    late (a busy machine slips its schedule, pacing.TokenBucket.acquire) and the lane saw both
    at once: 92 texts in a second at AT&T's 75 in bench_pacing.

    A shared bucket is not moved on to a later batch's booked start: each row asks for its slot
    no earlier than its own batch's start (`acquire(not_before=...)`). Moving the bucket (as this
    did) happened when the next batch began, right after its claim, while most of the earlier
    batch's rows were still waiting for a connection: they all took slots after the later
    batch's start, and the lane idled in between (every carrier ~4 s, near the start of
    bench_pacing: 88 % of the rate over the run; tests/messaging/sending/test_lane_batches.py)."""
    if shared is None:
        return TokenBucket(lane.rate, capacity=1.0, start_at=start)
    key = (lane.sender_id, lane.carrier)
    bucket = shared.get(key)
    if bucket is None or bucket.rate != lane.rate:
        bucket = shared[key] = TokenBucket(lane.rate, capacity=1.0, start_at=start)
    return bucket


def in_slot_order(batch: Batch, lane_starts: dict[int, float] | None) -> list[ClaimedRow]:
    """A pooled batch's rows in the order their lanes' slots come due.

    A row takes one of the CAMPAIGN_SEND_CONCURRENCY connections before it waits for its lane's
    slot (so a slot that comes due always has a connection, and a lane never bursts after a wait
    for one). In claim order (every AT&T row, then T-Mobile's, then Verizon's) the first rows
    would hold every connection and the later lanes would start late and, their buckets banking
    no idle time, stay behind: AT&T at 75 a second was used at 38% (bench_pacing). Interleaved by
    due time, the rows holding connections are always the next ones due, whatever their lane."""
    if not lane_starts or batch.pool is None:
        return batch.rows
    rates = {lane.index: lane.rate for lane in batch.pool.lanes}
    booked: dict[int, float] = {}
    due: list[tuple[float, int, ClaimedRow]] = []
    for position, row in enumerate(batch.rows):
        ahead = booked.get(row.lane, 0.0)
        booked[row.lane] = ahead + row.parts
        due.append((lane_starts.get(row.lane, 0.0) + ahead / rates.get(row.lane, 1.0), position, row))
    return [row for _, _, row in sorted(due, key=lambda item: item[:2])]


def batch_send(*, batch: Batch, backend: BaseSmsBackend | None = None) -> list[Outcome]:
    """Send a claimed batch concurrently under the sender's rate; no ORM work inside the loop."""
    backend = backend or get_backend()
    lane_starts = None
    if batch.pool is not None and not batch.pool.simple:
        lane_starts, send_deadline = lanes_window(
            batch, run_sync(reserve_lanes_op, batch.pool, batch.lane_parts(), timezone.now())
        )
        start_at = min(lane_starts.values(), default=time.monotonic())
    else:
        start_at, send_deadline = _reserve(batch)
    stopped = stopped_fans(batch)
    with gil_hands_over_often():  # the STOP re-check's thread beside the sends (pacing.py)
        return asyncio.run(
            _send_rows(
                batch, backend, send_deadline=send_deadline, start_at=start_at, stopped=stopped, lane_starts=lane_starts
            )
        )


def _reserve(batch: Batch) -> tuple[float, float]:
    """(monotonic start, monotonic send deadline) of a claimed batch, reserving the sender's time."""
    return send_window(batch, sender_window(talent_id=batch.talent_id, parts=batch.parts, rate=batch.rate))


def lanes_window(batch: Batch, delays: dict[int, float]) -> tuple[dict[int, float], float]:
    """(monotonic start per lane, monotonic send deadline) of a pooled batch."""
    _, send_deadline = send_window(batch, 0.0)
    now = time.monotonic()
    return {lane: now + delay for lane, delay in delays.items()}, send_deadline


def send_window(batch: Batch, delay: float) -> tuple[float, float]:
    """(monotonic start, monotonic send deadline) of a batch whose slice starts in `delay` seconds.

    Sends stop starting once a third of the lease is left: a live worker never sends after the
    sweeper could consider its rows abandoned.
    """
    now = time.monotonic()
    lease_left = (batch.lease_until - timezone.now()).total_seconds()
    return now + delay, now + lease_left * 2 / 3
