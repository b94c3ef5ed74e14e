"""The sender's rate holds when the event loop wakes its sleepers late (issue 10).

A burst's links went out at 110 SMS parts in one second on a 100 parts/s short code: every send
of a batch reserved its slot up front, the lane process was held off the CPU for a moment, and
when it ran again every send whose slot had passed left at once. These tests run the bucket on a
virtual clock, with a loop that can stall, and count the parts in every one-second window.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from messaging.sending.pacing import TokenBucket

RATE = 100  # SMS parts a second: a short code
PARTS = 2  # a signup link is two parts


class StallingLoop:
    """A virtual clock and timer queue. Sleepers wake in time order, `late_by` after their time
    (timers are never exact); at `stall_at` the loop is busy for `stall_for` seconds, so every
    sleeper due meanwhile wakes at its end."""

    def __init__(self, *, stall_at: float | None = None, stall_for: float = 0.0, late_by: float = 0.0) -> None:
        self.now = 100.0
        self.stall_at, self.stall_for, self.late_by = stall_at, stall_for, late_by
        self._timers: list = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def run(self, coroutines) -> None:
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            for _ in range(10):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if not self._timers:
                continue
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when + self.late_by)
            if self.stall_at is not None and self.now >= self.stall_at:
                self.now += self.stall_for
                self.stall_at = None
            future.set_result(None)
        for task in tasks:
            task.result()


def send_times(loop: StallingLoop, messages: int) -> list[float]:
    bucket = TokenBucket(RATE, capacity=1, clock=loop.clock, sleep=loop.sleep)  # as the priority lane's
    sent: list[float] = []

    async def one() -> None:
        await bucket.acquire(PARTS)
        sent.append(loop.now)  # leaves now: nothing awaits between the bucket and the send

    asyncio.run(loop.run([one() for _ in range(messages)]))
    return sent


def busiest_second(times: list[float]) -> int:
    """The most parts sent in any one-second window (sliding: not only calendar seconds)."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, (end - start + 1) * PARTS)
    return best


@pytest.mark.parametrize("stall_at", [101.5, 101.95, 102.4])
def test_a_stalled_loop_never_sends_above_the_rate(stall_at):
    # 300 links = 6 s at the rate; the loop is busy for 0.4 s somewhere in the middle.
    times = send_times(StallingLoop(stall_at=stall_at, stall_for=0.4), 300)
    assert len(times) == 300
    # The carrier allows the rate, and a pacer's burst at most one message above it.
    assert busiest_second(times) <= RATE + PARTS
    # The slots after the stall keep their spacing: the batch ends about the stall's length later.
    assert max(times) == pytest.approx(100 + 300 * PARTS / RATE + 0.4, abs=0.05)


def test_timers_that_wake_a_little_late_cost_no_throughput():
    # Every wake-up 2 ms late (within the bucket's 10 ms burst): no slip accumulates.
    times = send_times(StallingLoop(late_by=0.002), 300)
    assert busiest_second(times) <= RATE + PARTS
    assert max(times) - 100 <= 300 * PARTS / RATE * 1.01  # at the rate, give or take 1 %
