"""Per-sender throughput, counted in SMS segments (what carriers meter), not in messages.

Two layers:
- sender_window() / reserve_op: across processes and machines, each batch reserves a slice of the
  sender's time line in the database (one locked row per talent), so two qcluster workers sending for the
  same long code share its 1 segment/s instead of doubling it.
- TokenBucket: inside one batch's event loop, paces the concurrent sends through that slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

from django.db import connection
from django.db.models import F
from django.utils import timezone

from messaging.sending.models import FanCarrier, Sender, SenderClock, SenderDailyCount, SenderLaneClock
from messaging.sending.senders import (
    Lane,
    Pool,
    build_pool,
    cap_of,
    lane_address,
    lane_on_talent_clock,
    lane_sender,
    pacific_day,
)
from messaging.sending.sql import Dialect, Op, Statement, as_datetime, read_only, run_sync

# The GIL's switch interval while a send loop runs (Python's default: 5 ms). A send loop shares its
# process with the threads that claim, record and re-check (ORM work, CPU-bound in Python); each
# time the loop comes back from a system call (a timer, a socket) it waits for the GIL, which a
# busy thread gives up once per interval. A few such waits a send capped one loop beside one busy
# thread at ~170 sequential sends a second on an idle core, and below a short code's 100 on a
# burst's starved one (a lane batch at 48 parts/s); at 0.5 ms the cap is ~950 (bench/lane_gil.py).
LOOP_SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def gil_hands_over_often() -> Iterator[None]:
    """Run a send loop with the GIL's switch interval at LOOP_SWITCH_INTERVAL; as before after it
    (the process's next task runs as usual)."""
    # Loops may overlap in one process (threads): the first in saves the interval, the last out
    # restores it. Each saving its own "before" let the second loop restore the first's 0.5 ms.
    global _LOOPS, _BEFORE
    with _LOOPS_LOCK:
        if _LOOPS == 0:
            _BEFORE = sys.getswitchinterval()
            sys.setswitchinterval(min(_BEFORE, LOOP_SWITCH_INTERVAL))
        _LOOPS += 1
    try:
        yield
    finally:
        with _LOOPS_LOCK:
            _LOOPS -= 1
            if _LOOPS == 0:
                sys.setswitchinterval(_BEFORE)


_LOOPS_LOCK = threading.Lock()
_LOOPS = 0  # send loops running in this process
_BEFORE = 0.005  # the interval before the first of them


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

    def reserve(self, tokens: float, not_before: float | None = None) -> float:
        """Reserve `tokens` and return the seconds to wait before using them; with `not_before`
        (a clock time), no earlier than then: the schedule goes on from there."""
        now = self._clock()
        tat = max(self._tat, now) if not_before is None else max(self._tat, now, not_before)
        self._tat = tat + tokens / self.rate
        allow_at = self._tat - self.capacity / self.rate
        return max(0.0, allow_at - now)

    async def acquire(self, tokens: float = 1, not_before: float | None = None) -> None:
        """Wait for `tokens` (no earlier than `not_before`); returns when the caller may use them.

        Callers reserve up front, so each sleeps until its own slot. A caller that wakes late (the
        event loop or the process was busy: a CPU-bound burst, a GC pause) would otherwise go
        together with every caller whose slot passed meanwhile, and the sender would see a second
        above its rate. So a lateness beyond the bucket's burst (capacity / rate) moves the rest of
        the schedule on by as much: the slots after it keep their spacing, measured from when the
        sends really leave. A lateness within the burst is ignored (timers always wake a little
        late; counting that would cost throughput and buy nothing).
        """
        slip_at_reserve = self._slip
        due = self._clock() + self.reserve(tokens, not_before)
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


def _book(d: Dialect, table: str, where: Statement, seconds: float, now: dt.datetime) -> Op[float | None]:
    """Push one clock row's next_free_at `seconds` further (from now at the earliest); the answer
    is when the booked slice starts, in seconds from now (None: no such row).

    PostgreSQL: one UPDATE ... RETURNING (the row lock makes concurrent workers queue up).
    Elsewhere: read then write in the operation's transaction (IMMEDIATE on SQLite: serialised).
    """
    where_sql, where_params = where
    if d.pg:
        result = yield (
            f"UPDATE {table} SET next_free_at = GREATEST(COALESCE(next_free_at, %s), %s) "  # noqa: S608
            f"+ make_interval(secs => %s) WHERE {where_sql} RETURNING next_free_at",
            [now, now, seconds, *where_params],
        )
        if not result.rows:
            return None
        start = result.rows[0][0] - dt.timedelta(seconds=seconds)
    else:
        result = yield f"SELECT next_free_at FROM {table} WHERE {where_sql}", list(where_params)  # noqa: S608
        if not result.rows:
            return None
        start = max(as_datetime(result.rows[0][0]) or now, now)
        yield (
            f"UPDATE {table} SET next_free_at = %s WHERE {where_sql}",  # noqa: S608
            [start + dt.timedelta(seconds=seconds), *where_params],
        )
    return max(0.0, (start - now).total_seconds())


def reserve_op(d: Dialect, talent_id: int, parts: int, rate: float, now: dt.datetime) -> Op[float]:
    """Book `parts` on the sender's time line (its SenderClock row must exist); the answer is the
    seconds to wait before the booked slice starts."""
    wait = yield from _book(d, CLOCK_TABLE, ("talent_id = %s", [talent_id]), parts / max(rate, 0.001), now)
    return wait or 0.0


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


# --- the sender pool's lanes (issue 17) ------------------------------------------------------------
LANE_TABLE = SenderLaneClock._meta.db_table
DAILY_TABLE = SenderDailyCount._meta.db_table


def _lane_reserve(d: Dialect, lane: Lane, parts: int, now: dt.datetime) -> Op[float]:
    """Book `parts` on one lane's clock row (SenderLaneClock); seconds until the slice starts."""
    where = ("sender_id = %s AND carrier = %s", [lane.sender_id, lane.carrier])
    wait = yield from _book(d, LANE_TABLE, where, parts / max(lane.rate, 0.001), now)
    return wait or 0.0


def reserve_lanes_op(d: Dialect, pool: Pool, parts: dict[int, int], now: dt.datetime) -> Op[dict[int, float]]:
    """Book each lane's parts on its clock; seconds to wait per lane.

    The priority lane books the talent's SenderClock first (never waiting for campaigns), so a
    lane of the talent's own number books there too and waits for the later of the two: its
    campaign texts get what the priority texts leave (issue 10's one pacing rule).
    """
    delays: dict[int, float] = {}
    primary_parts: dict[int, int] = {}
    for index, n in parts.items():
        lane = pool.lanes[index]
        if lane_on_talent_clock(lane):
            delays[index] = yield from reserve_op(d, pool.talent_id, n, lane.rate, now)
            continue
        delays[index] = yield from _lane_reserve(d, lane, n, now)
        if lane.primary:
            primary_parts[lane.sender_index] = primary_parts.get(lane.sender_index, 0) + n
    for sender_index, n in primary_parts.items():
        wait = yield from reserve_op(d, pool.talent_id, n, pool.sender_rate(sender_index), now)
        for index in parts:
            if pool.lanes[index].sender_index == sender_index:
                delays[index] = max(delays[index], wait)
    return delays


@read_only
def lane_backlogs_op(d: Dialect, pool: Pool, now: dt.datetime) -> Op[dict[int, float]]:
    """Seconds each lane's time line is booked ahead of now."""
    ids = sorted({lane.sender_id for lane in pool.lanes if lane.sender_id is not None})
    booked: dict[tuple[int | None, str], dt.datetime | None] = {}
    if ids:
        marks = ", ".join(["%s"] * len(ids))
        result = yield f"SELECT sender_id, carrier, next_free_at FROM {LANE_TABLE} WHERE sender_id IN ({marks})", ids  # noqa: S608
        booked = {(row[0], row[1]): as_datetime(row[2]) for row in result.rows}
    talent_clock = None
    if any(lane_on_talent_clock(lane) for lane in pool.lanes):
        result = yield _next_free_statement(pool.talent_id)
        talent_clock = as_datetime(result.rows[0][0]) if result.rows else None
    backlogs = {}
    for lane in pool.lanes:
        free = talent_clock if lane_on_talent_clock(lane) else booked.get((lane.sender_id, lane.carrier))
        backlogs[lane.index] = max(0.0, (free - now).total_seconds()) if free else 0.0
    return backlogs


def daily_counts_op(d: Dialect, pool: Pool, now: dt.datetime, lock: bool) -> Op[dict[str, int]]:
    """Parts booked today (US/Pacific) under each daily cap of the pool; the rows are created on
    first use and, on PostgreSQL, locked for the claim's transaction when `lock` (two workers never
    both book the last parts of a cap)."""
    caps = pool.caps
    if not caps:
        return {}
    day = pacific_day(now)
    for key in caps:
        yield (
            f"INSERT INTO {DAILY_TABLE} (talent_id, cap_key, day, parts) VALUES (%s, %s, %s, 0) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            [pool.talent_id, key, day],
        )
    marks = ", ".join(["%s"] * len(caps))
    suffix = " FOR UPDATE" if lock and d.pg else ""
    result = yield (
        f"SELECT cap_key, parts FROM {DAILY_TABLE} WHERE talent_id = %s AND day = %s AND cap_key IN ({marks}){suffix}",  # noqa: S608
        [pool.talent_id, day, *caps],
    )
    return {row[0]: row[1] for row in result.rows}


def count_daily_op(d: Dialect, pool: Pool, booked: dict[str, int], now: dt.datetime) -> Op[None]:
    day = pacific_day(now)
    for key, parts in booked.items():
        if parts:
            yield (
                f"UPDATE {DAILY_TABLE} SET parts = parts + %s WHERE talent_id = %s AND cap_key = %s AND day = %s",  # noqa: S608
                [parts, pool.talent_id, key, day],
            )


SENT_PREFIX = "sent:"  # SenderDailyCount rows that count what a sender sent (no cap; /metrics)


def sent_count_statement(talent_id: int, address: str, parts: int, now: dt.datetime) -> Statement:
    """Add `parts` to what the sender at `address` (its number or Messaging Service) sent today:
    /metrics' fancommunity_sender_sent_parts, whose rate() is the send rate per sender on every
    machine at once (the rows are in the database, not in one process). One upsert a sender and
    batch; the key is not a cap, so no claim ever reads it."""
    return (
        f"INSERT INTO {DAILY_TABLE} (talent_id, cap_key, day, parts) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT (talent_id, cap_key, day) DO UPDATE SET parts = {DAILY_TABLE}.parts + excluded.parts",
        [talent_id, (SENT_PREFIX + address)[:60], pacific_day(now), parts],
    )


def load_pool(talent) -> Pool:
    """The talent's pool from the database; makes sure every lane's clock row exists."""
    pool = build_pool(talent, list(Sender.objects.filter(talent=talent)))
    SenderClock.objects.get_or_create(talent_id=talent.pk)
    for lane in pool.lanes:
        if not lane_on_talent_clock(lane) and lane.sender_id is not None:
            SenderLaneClock.objects.get_or_create(sender_id=lane.sender_id, carrier=lane.carrier)
    return pool


def count_lane_parts(talent, sent: list[tuple[int | None, int]], *, now: dt.datetime) -> None:
    """Add what the priority lane sent (fan id, SMS parts) to each sender's sent count and to the
    talent's daily caps, so the campaign claims that book after it see the carrier's count as it
    is (issue 17: T-Mobile counts every text of the brand). Counted, never checked: no cap holds a STOP or HELP
    confirmation, a join link or a reply (issue 10's one pacing rule). Needs the talent's senders
    prefetched, as lane_address does; with none, nothing is counted (no pool, no caps)."""
    by_address: dict[str, int] = {}
    for fan_id, parts in sent:
        address = lane_address(talent, fan_id)
        key = address["messaging_service_sid"] or address["from_"]
        by_address[key] = by_address.get(key, 0) + parts
    with connection.cursor() as cursor:
        for key, parts in by_address.items():
            cursor.execute(*sent_count_statement(talent.pk, key, parts, now))
    chosen = [(lane_sender(talent, fan_id), fan_id, parts) for fan_id, parts in sent]
    chosen = [c for c in chosen if c[0] is not None]
    if not chosen:
        return
    carriers: dict[int, str] = {}
    if any(sender.tmobile_daily_cap for sender, _, _ in chosen):
        fan_ids = {fan_id for _, fan_id, _ in chosen if fan_id}
        carriers = dict(FanCarrier.objects.filter(fan_id__in=fan_ids).values_list("fan_id", "carrier"))
    booked: dict[str, int] = {}
    for sender, fan_id, parts in chosen:
        key, cap = cap_of(sender, carriers.get(fan_id or 0, "unknown"))
        if key and cap:
            booked[key] = booked.get(key, 0) + parts
    day = pacific_day(now)
    for key, parts in booked.items():
        row, _ = SenderDailyCount.objects.get_or_create(talent_id=talent.pk, cap_key=key, day=day)
        SenderDailyCount.objects.filter(pk=row.pk).update(parts=F("parts") + parts)
