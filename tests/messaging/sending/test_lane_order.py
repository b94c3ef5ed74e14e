"""A pooled batch's rows take the send connections in the order their lanes' slots come due, so
a slow lane's rows never hold every connection while a fast lane waits (issue 17: each carrier's
rate used, not just never exceeded)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from types import SimpleNamespace

from django.utils import timezone

from messaging.sending.claim import Batch, ClaimedRow
from messaging.sending.send import _send_rows, in_slot_order
from messaging.sending.senders import build_pool
from messaging.sms.backends.base import SendResult


class TimedBackend:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    async def send_async(self, message) -> SendResult:
        self.times[message.to] = time.monotonic()
        await asyncio.sleep(0.005)
        return SendResult(sid=f"SM{len(self.times)}", parts=1)

    async def aclose(self) -> None:
        pass


def _batch(slow: int, fast: int) -> Batch:
    """A 10DLC sender whose AT&T lane (claimed first) is slow and Verizon lane fast."""
    talent = SimpleNamespace(pk=1, sender_number="+14155550100", messaging_service_sid="", parts_per_second=1)
    sender = SimpleNamespace(
        pk=7,
        kind="10dlc",
        trust_score=None,
        rate_overrides={"att": 2, "tmobile": 2, "verizon": 50},
        phone_number="+14155550100",
        messaging_service_sid="",
        tmobile_daily_cap=None,
        brand="",
        registration_problem="",
    )
    pool = build_pool(talent, [sender])
    att = next(lane.index for lane in pool.lanes if lane.carrier == "att")
    verizon = next(lane.index for lane in pool.lanes if lane.carrier == "verizon")
    rows = [ClaimedRow(i, i, f"+1415000{i:04d}", "hi", 1, lane=att) for i in range(slow)]
    rows += [ClaimedRow(100 + i, 100 + i, f"+1415100{i:04d}", "hi", 1, lane=verizon) for i in range(fast)]
    now = timezone.now()
    return Batch(1, 1, now, now + dt.timedelta(seconds=120), 1, "+14155550100", "", "", 0, rows=rows, pool=pool)


def test_rows_are_interleaved_by_when_their_lane_lets_them_go():
    batch = _batch(slow=3, fast=6)
    starts = {lane.index: 0.0 for lane in batch.pool.lanes}
    order = [row.id for row in in_slot_order(batch, starts)]
    # AT&T at 2/s: slots at 0, 0.5, 1.0 s; Verizon at 50/s: 0, 0.02 ... 0.1 s.
    assert order == [0, 100, 101, 102, 103, 104, 105, 1, 2]
    assert in_slot_order(batch, None) == batch.rows  # one-lane batches keep their order


def test_a_slow_lane_does_not_hold_the_connections_a_fast_lane_needs(settings):
    batch = _batch(slow=6, fast=20)
    backend = TimedBackend()
    start = time.monotonic()
    starts = {lane.index: start for lane in batch.pool.lanes}

    async def run():
        return await _send_rows(
            batch,
            backend,
            send_deadline=start + 60,
            start_at=start,
            limit=asyncio.Semaphore(3),  # three connections for both lanes
            lane_starts=starts,
        )

    outcomes = asyncio.run(run())
    assert [o.kind for o in outcomes].count("sent") == 26
    fast = [t - start for to, t in backend.times.items() if to.startswith("+1415100")]
    # 20 texts at 50 a second: about 0.4 s. In claim order the six AT&T rows (2 a second) held
    # all three connections until 1.5 s, and Verizon's last text left near 1.9 s.
    assert max(fast) < 0.9, max(fast)
