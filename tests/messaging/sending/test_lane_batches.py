"""A lane goes on at its rate from one batch to the next (issue 17, the pacing figure).

The pipeline keeps up to three batches in flight and claims the next ones right after the first,
so a later batch starts (`send._send_rows`) while most of an earlier one's rows are still waiting
for one of the shared connections, before they have taken their slot on the lane's bucket. The
later batch used to move the lane's bucket on to its own booked start then, and every row of the
earlier batch not yet in the bucket took a slot after it: the lane sent a connection's worth of
texts, idled until the later batch's slice, then sent the rest late. bench_pacing saw every
carrier pause ~4 s at the same moment near the start of the run (88 % of the rate over the run).

Virtual clock (the late-wake-ups test's loop): no real time, nothing to be slow under xdist.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from messaging.sending.claim import Batch, ClaimedRow, lane_share
from messaging.sending.pacing import TokenBucket
from messaging.sending.send import _send_rows
from messaging.sending.senders import Lane, Pool
from messaging.sms.backends.base import BaseSmsBackend, SendResult
from tests.messaging.sending.test_pacing_late_wakeups import StallingLoop

RATES = {"att": 75.0, "tmobile": 40.0}
T0 = 100.0  # the virtual clock's start (StallingLoop)
LANES = tuple(
    Lane(index, 1, 0, carrier, rate, "+12025550100", "", False) for index, (carrier, rate) in enumerate(RATES.items())
)
POOL = Pool(talent_id=1, lanes=LANES, senders=1)


class Stamps(BaseSmsBackend):
    """Stamps each send, on the virtual clock, with its lane and batch."""

    def __init__(self, loop: StallingLoop) -> None:
        self.loop = loop
        self.sent: list[tuple[float, str, int]] = []  # (when, carrier, batch)

    async def send_async(self, message):
        carrier, batch, _ = message.to.split(":")
        self.sent.append((self.loop.now, carrier, int(batch)))
        return SendResult(sid=f"SM{len(self.sent):032d}", parts=1)


def batch_of(number: int, seconds: float) -> Batch:
    """A claimed batch with `seconds` of each lane's rate, as a pooled claim takes it."""
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    rows = [
        ClaimedRow(id=number * 10_000 + lane.index * 1_000 + i, fan_id=None, to=f"{lane.carrier}:{number}:{i}", body="Hi",
                   parts=1, lane=lane.index)
        for lane in LANES
        for i in range(int(lane.rate * seconds))
    ]  # fmt: skip
    return Batch(1, 1, now, now + dt.timedelta(seconds=120), POOL.total_rate, "", "", "", 0, rows=rows, pool=POOL)


def run_two_batches(*, second_starts_after: float, concurrency: int) -> list[tuple[float, str, int]]:
    """Two batches of 0.8 s a lane, booked back to back (as the lanes' clocks book them); the
    second one starts sending `second_starts_after` seconds after the first (its claim's time)."""
    loop = StallingLoop()
    backend = Stamps(loop)
    seconds = 0.8
    # The pipeline's one bucket per lane for all its batches, on the virtual clock.
    buckets = {
        (lane.sender_id, lane.carrier): TokenBucket(lane.rate, 1.0, clock=loop.clock, sleep=loop.sleep)
        for lane in LANES
    }
    limit = asyncio.Semaphore(concurrency)  # the pipeline's connections, shared by its batches

    async def send(batch: Batch, begins_after: float, slice_start: float) -> None:
        await loop.sleep(begins_after)  # the claim's round trips before this batch starts sending
        await _send_rows(
            batch,
            backend,
            send_deadline=float("inf"),
            start_at=slice_start,
            close=False,
            limit=limit,
            lane_starts={lane.index: slice_start for lane in LANES},
            lane_buckets=buckets,
        )

    async def pipeline() -> None:
        # The first batch's slice starts now, the second's where the first's ends.
        await asyncio.gather(
            send(batch_of(1, seconds), 0.0, T0), send(batch_of(2, seconds), second_starts_after, T0 + seconds)
        )

    asyncio.run(loop.run([pipeline()]))
    return backend.sent


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(("second_starts_after", "concurrency"), [(0.3, 10), (0.05, 100), (0.6, 20)])
def test_a_lane_never_idles_between_batches_booked_back_to_back(second_starts_after, concurrency):
    sent = run_two_batches(second_starts_after=second_starts_after, concurrency=concurrency)
    assert len(sent) == 2 * sum(int(rate * 0.8) for rate in RATES.values())
    for carrier, rate in RATES.items():
        times = sorted(when for when, lane, _ in sent if lane == carrier)
        slot = 1 / rate
        # No pause: one text every slot from the first batch's start to the second's end.
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps) <= slot * 1.01, (carrier, max(gaps))
        assert times[-1] - T0 <= 1.6 + slot
        # Each batch sends inside its own booked slice (what other workers book around).
        first = [when for when, lane, batch in sent if lane == carrier and batch == 1]
        assert max(first) < T0 + 0.8, (carrier, max(first))
        assert busiest_second(times) <= rate + 1


def test_no_lane_of_a_claim_runs_past_the_batchs_span():
    # bench_pacing's claim: 500 rows over 75 + 40 + 4 + 4 (unknown carriers) parts a second.
    span = 500 / 123
    shares = {rate: lane_share(rate, span) for rate in (75, 40, 4)}
    assert shares == {75: 304, 40: 162, 4: 16}  # 17 Verizon rows were 4.25 s of a 4.07 s batch
    assert all(rows / rate <= span for rate, rows in shares.items())
    assert lane_share(1, 0.2) == 1  # a slow lane still gets a row
