"""Per-sender throughput, counted in SMS segments (what carriers meter), not in messages.

Two layers:
- sender_window(): across processes and machines, each batch reserves a slice of the sender's
  time line in the database (one locked row per talent), so two qcluster workers sending for the
  same long code share its 1 segment/s instead of doubling it.
- TokenBucket: inside one batch's event loop, paces the concurrent sends through that slice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

from django.db import transaction
from django.utils import timezone

from messaging.sending.models import SenderClock


class TokenBucket:
    """A token bucket (as GCRA: one "theoretical arrival time") refilled at `rate` tokens/s.

    acquire(n) reserves n tokens at once and sleeps until they are due, so concurrent callers are
    served in call order and no await sits between reading and writing the state.
    """

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        *,
        start_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = max(1.0, float(capacity))
        self._clock = clock
        self._sleep = sleep
        now = clock()
        # Start empty at start_at (a reserved window may begin later); a full burst otherwise.
        self._tat = start_at if start_at is not None else now

    def reserve(self, tokens: float) -> float:
        """Reserve `tokens` and return the seconds to wait before using them."""
        now = self._clock()
        tat = max(self._tat, now)
        self._tat = tat + tokens / self.rate
        allow_at = self._tat - self.capacity / self.rate
        return max(0.0, allow_at - now)

    async def acquire(self, tokens: float = 1) -> None:
        delay = self.reserve(tokens)
        if delay > 0:
            await self._sleep(delay)


def sender_window(*, talent_id: int, parts: int, rate: float) -> float:
    """Reserve `segments` of a sender's time line; returns seconds to wait before the slice starts."""
    now = timezone.now()
    with transaction.atomic():
        clock, _ = SenderClock.objects.select_for_update().get_or_create(talent_id=talent_id)
        start = max(clock.next_free_at or now, now)
        clock.next_free_at = start + dt.timedelta(seconds=parts / rate)
        clock.save(update_fields=["next_free_at"])
    return (start - now).total_seconds()


def sender_backlog(*, talent_id: int) -> float:
    """Seconds of the sender's time line already reserved ahead of now (0 when idle)."""
    next_free = SenderClock.objects.filter(talent_id=talent_id).values_list("next_free_at", flat=True).first()
    if next_free is None:
        return 0.0
    return max(0.0, (next_free - timezone.now()).total_seconds())
