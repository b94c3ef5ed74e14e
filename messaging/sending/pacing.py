"""Per-sender throughput, counted in SMS segments (what carriers meter), not in messages.

Two layers:
- sender_window() / reserve_op: across processes and machines, each batch reserves a slice of the
  sender's time line in the database (one locked row per talent), so two qcluster workers sending for the
  same long code share its 1 segment/s instead of doubling it.
- TokenBucket: inside one batch's event loop, paces the concurrent sends through that slice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

from django.utils import timezone

from messaging.sending.models import SenderClock
from messaging.sending.sql import Dialect, Op, Statement, as_datetime, read_only, run_sync


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
        # Seconds the schedule has slipped because callers woke late (see acquire()).
        self._slip = 0.0

    def reserve(self, tokens: float) -> float:
        """Reserve `tokens` and return the seconds to wait before using them."""
        now = self._clock()
        tat = max(self._tat, now)
        self._tat = tat + tokens / self.rate
        allow_at = self._tat - self.capacity / self.rate
        return max(0.0, allow_at - now)

    async def acquire(self, tokens: float = 1) -> None:
        """Wait for `tokens`; returns when the caller may use them.

        Callers reserve up front, so each sleeps until its own slot. A caller that wakes late (the
        event loop or the process was busy: a CPU-bound burst, a GC pause) would otherwise go
        together with every caller whose slot passed meanwhile, and the sender would see a second
        above its rate. So a lateness beyond the bucket's burst (capacity / rate) moves the rest of
        the schedule on by as much: the slots after it keep their spacing, measured from when the
        sends really leave. A lateness within the burst is ignored (timers always wake a little
        late; counting that would cost throughput and buy nothing).
        """
        slip_at_reserve = self._slip
        due = self._clock() + self.reserve(tokens)
        tolerance = self.capacity / self.rate
        while True:
            target = due + (self._slip - slip_at_reserve)  # our slot, moved by the lateness since
            now = self._clock()
            if now < target:
                await self._sleep(target - now)
                continue
            late = now - target - tolerance
            if late > 0:
                self._slip += late
                self._tat += late
            return


CLOCK_TABLE = SenderClock._meta.db_table


def _next_free_statement(talent_id: int) -> Statement:
    return f"SELECT next_free_at FROM {CLOCK_TABLE} WHERE talent_id = %s", [talent_id]  # noqa: S608


def reserve_op(d: Dialect, talent_id: int, parts: int, rate: float, now: dt.datetime) -> Op[float]:
    """Book `parts` on the sender's time line (its SenderClock row must exist); the answer is the
    seconds to wait before the booked slice starts.

    PostgreSQL: one UPDATE ... RETURNING (the row lock makes concurrent workers queue up).
    Elsewhere: read then write in the operation's transaction (IMMEDIATE on SQLite: serialised).
    """
    seconds = parts / max(rate, 0.001)
    if d.pg:
        result = yield (
            f"UPDATE {CLOCK_TABLE} SET next_free_at = GREATEST(COALESCE(next_free_at, %s), %s) "  # noqa: S608
            "+ make_interval(secs => %s) WHERE talent_id = %s RETURNING next_free_at",
            [now, now, seconds, talent_id],
        )
        if not result.rows:
            return 0.0
        start = result.rows[0][0] - dt.timedelta(seconds=seconds)
    else:
        result = yield _next_free_statement(talent_id)
        if not result.rows:
            return 0.0
        start = max(as_datetime(result.rows[0][0]) or now, now)
        yield (
            f"UPDATE {CLOCK_TABLE} SET next_free_at = %s WHERE talent_id = %s",  # noqa: S608
            [start + dt.timedelta(seconds=seconds), talent_id],
        )
    return max(0.0, (start - now).total_seconds())


@read_only
def backlog_op(d: Dialect, talent_id: int) -> Op[float]:
    """Seconds of the sender's time line already reserved ahead of now (0 when idle)."""
    result = yield _next_free_statement(talent_id)
    next_free = as_datetime(result.rows[0][0]) if result.rows else None
    if next_free is None:
        return 0.0
    return max(0.0, (next_free - timezone.now()).total_seconds())


def sender_window(*, talent_id: int, parts: int, rate: float) -> float:
    """Reserve `parts` of a sender's time line; returns seconds to wait before the slice starts."""
    SenderClock.objects.get_or_create(talent_id=talent_id)
    return run_sync(reserve_op, talent_id, parts, rate, timezone.now())


def sender_backlog(*, talent_id: int) -> float:
    """Seconds of the sender's time line already reserved ahead of now (0 when idle)."""
    return run_sync(backlog_op, talent_id)
