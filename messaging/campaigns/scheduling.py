"""Local-time and quiet-hours arithmetic, DST-safe, with zoneinfo.

Every instant we store is UTC. A wall-clock time in a fan's zone is turned into an instant only
here: a local time that does not exist (the spring-forward gap) moves forward past the gap, a local
time that happens twice (fall back) means its first occurrence, so nobody gets a message an hour
early or twice.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

UTC = dt.UTC


@lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def local_instant(day: dt.date, at: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant of wall-clock `at` on `day` in `tz` (gap: moved forward; overlap: first)."""
    # fold=0 means the first occurrence in an overlap, and in a gap the offset from before the jump,
    # which lands the same distance past the gap (02:30 on spring-forward day -> 03:30).
    naive = dt.datetime.combine(day, at.replace(tzinfo=None))
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def in_quiet_hours(local_time: dt.time, start: dt.time, end: dt.time) -> bool:
    """Is a fan-local wall time inside the quiet window [start, end)? The window may wrap midnight."""
    if start == end:
        return False  # no quiet hours configured
    t = local_time.replace(tzinfo=None)
    if start < end:
        return start <= t < end
    return t >= start or t < end


def next_allowed(instant: dt.datetime, tz: zoneinfo.ZoneInfo, start: dt.time, end: dt.time) -> dt.datetime:
    """`instant` if it is outside the fan's quiet hours, else the end of those quiet hours (UTC)."""
    local = instant.astimezone(tz)
    if not in_quiet_hours(local.time(), start, end):
        return instant
    day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        day += dt.timedelta(days=1)  # evening part of a window wrapping midnight: ends tomorrow
    resume = local_instant(day, end, tz)
    return max(resume, instant)


def first_local_occurrence(day: dt.date, at: dt.time, zones: list[str]) -> dt.datetime | None:
    """The earliest instant `at` on `day` happens in any of `zones` (the campaign's start)."""
    instants = [local_instant(day, at, zone(name)) for name in zones]
    return min(instants) if instants else None
