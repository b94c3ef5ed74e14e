"""The token bucket paces sends in segments; the sender window is shared across workers."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from django.utils import timezone

from messaging.sending import pacing
from messaging.sending.pacing import TokenBucket, sender_window


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_paces_segments_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(2, capacity=1, clock=clock, sleep=clock.sleep)  # 2 segments/s

    async def run():
        for segments in [1, 1, 2, 1]:
            await bucket.acquire(segments)

    asyncio.run(run())
    # 1 segment at once, then 0.5 s per segment: 1 + 1 + 2 + 1 segments end at 100 + 2.0 s.
    assert clock.now == pytest.approx(102.0)


def test_concurrent_callers_share_one_rate():
    clock = FakeClock()
    bucket = TokenBucket(10, capacity=1, clock=clock, sleep=clock.sleep)
    waits = [bucket.reserve(1) for _ in range(20)]
    assert waits[0] == 0 and waits[-1] == pytest.approx(1.9)


def test_start_at_delays_the_first_send():
    clock = FakeClock()
    bucket = TokenBucket(1, clock=clock, sleep=clock.sleep, start_at=103.0)
    assert bucket.reserve(1) == pytest.approx(3.0)


@pytest.mark.django_db
def test_sender_window_is_shared_by_batches(personas, monkeypatch):
    # One instant for both reservations: on a loaded machine (or beside another xdist worker) the
    # two calls were seen 86 ms apart, so the second's wait came out 0.91 s, outside the 0.05 s.
    frozen = timezone.now()
    monkeypatch.setattr(pacing, "timezone", SimpleNamespace(now=lambda: frozen))
    first = sender_window(talent_id=personas.talent.pk, parts=100, rate=100)
    second = sender_window(talent_id=personas.talent.pk, parts=100, rate=100)
    assert first == pytest.approx(0, abs=0.05)
    assert second == pytest.approx(1.0, abs=0.05)  # the second batch waits for the first's second
