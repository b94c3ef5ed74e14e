"""The lane never sends above the sender's rate, even when its STOP re-check is slow (issue 10).

Each send waits for its slot, then for the re-check in flight. When every send waited for its slot
concurrently, the ones whose slots passed during a slow re-check all left the moment it ended: a
second above the rate at the provider (the bench saw 108 parts on a 100 parts/s short code). Now
one talent's sends are dispatched one at a time, so a wait after the bucket delays the ones behind
it. Real time, ~1.5 s: the re-check runs in a thread, which a virtual clock cannot hold.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from messaging.conversations import priority
from messaging.sms.backends.base import BaseSmsBackend, SendResult
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db
RATE = 40  # parts a second


class Stamps(BaseSmsBackend):
    """Stamps each send when it reaches the provider."""

    def __init__(self) -> None:
        self.at: list[float] = []

    async def send_async(self, message):
        self.at.append(time.monotonic())
        return SendResult(sid=f"SM{len(self.at):032d}", parts=1)


def test_a_slow_stop_recheck_never_lets_the_sends_behind_it_leave_at_once(personas, monkeypatch):
    talent = personas.talent
    talent.parts_per_second = RATE
    talent.save(update_fields=["parts_per_second"])
    fan = create_fan(talent, "+14155550731")

    def slow_check(fan_ids: set[int]) -> set[int]:
        time.sleep(0.25)  # ten slots' worth at 40 a second
        return set()

    monkeypatch.setattr(priority, "_inactive_in_thread", slow_check)
    monkeypatch.setattr(priority, "STOP_RECHECK_SECONDS", 0.3)
    rows = [
        priority._Row(
            OutboundMessage(
                pk=i + 1,
                talent=talent,
                fan=fan,
                to_number=str(fan.phone),
                body="Join",
                lane=OutboundMessage.Lane.LINK,
                parts=1,
            ),
        )  # fmt: skip
        for i in range(55)
    ]
    backend = Stamps()
    asyncio.run(priority._send_all(rows, backend))
    assert len(backend.at) == 55
    # The busiest second, at any start: the rate, plus the one send a bucket of capacity 1 lets early.
    busiest = max(sum(1 for t in backend.at if start <= t < start + 1) for start in backend.at)
    assert busiest <= RATE + 1, busiest
