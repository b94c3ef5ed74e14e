"""Local-time and quiet-hours math across the US and EU DST transitions."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from messaging.campaigns.scheduling import first_local_occurrence, in_quiet_hours, local_instant, next_allowed

NY = zoneinfo.ZoneInfo("America/New_York")
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
UTC = dt.UTC
Q_START, Q_END = dt.time(21, 0), dt.time(8, 0)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_ten_o_clock_local_on_both_sides_of_the_us_spring_transition():
    # US clocks sprang forward on 2026-03-08: EST (-5) before, EDT (-4) after.
    assert local_instant(dt.date(2026, 3, 7), dt.time(10), NY) == utc(2026, 3, 7, 15)
    assert local_instant(dt.date(2026, 3, 8), dt.time(10), NY) == utc(2026, 3, 8, 14)


def test_ten_o_clock_local_on_both_sides_of_the_eu_autumn_transition():
    # EU clocks fell back on 2026-10-25: CEST (+2) before, CET (+1) after.
    assert local_instant(dt.date(2026, 10, 24), dt.time(10), PARIS) == utc(2026, 10, 24, 8)
    assert local_instant(dt.date(2026, 10, 25), dt.time(10), PARIS) == utc(2026, 10, 25, 9)


def test_nonexistent_local_time_moves_forward_and_repeated_one_means_the_first():
    # 02:30 does not exist in New York on 2026-03-08: it lands after the gap.
    assert local_instant(dt.date(2026, 3, 8), dt.time(2, 30), NY) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    # 01:30 happens twice on 2026-11-01: the first one (EDT).
    assert local_instant(dt.date(2026, 11, 1), dt.time(1, 30), NY) == utc(2026, 11, 1, 5, 30)


def test_quiet_window_wraps_midnight():
    assert in_quiet_hours(dt.time(21, 0), Q_START, Q_END)
    assert in_quiet_hours(dt.time(2, 0), Q_START, Q_END)
    assert not in_quiet_hours(dt.time(8, 0), Q_START, Q_END)
    assert not in_quiet_hours(dt.time(20, 59), Q_START, Q_END)
    assert in_quiet_hours(dt.time(13, 0), dt.time(12), dt.time(14))  # a daytime window
    assert not in_quiet_hours(dt.time(13, 0), dt.time(8), dt.time(8))  # none


def test_next_allowed_is_8_am_local_the_right_morning_across_dst():
    # 22:00 EST on Saturday 2026-03-07 -> 08:00 EDT on Sunday, after the spring-forward night.
    evening = local_instant(dt.date(2026, 3, 7), dt.time(22), NY)
    assert next_allowed(evening, NY, Q_START, Q_END) == utc(2026, 3, 8, 12)
    # 23:00 CEST on Saturday 2026-10-24 -> 08:00 CET on Sunday (the night is an hour longer).
    evening = local_instant(dt.date(2026, 10, 24), dt.time(23), PARIS)
    assert next_allowed(evening, PARIS, Q_START, Q_END) == utc(2026, 10, 25, 7)
    # 03:00 local is the early part of the window: same day's 08:00.
    early = local_instant(dt.date(2026, 10, 25), dt.time(3), PARIS)
    assert next_allowed(early, PARIS, Q_START, Q_END) == utc(2026, 10, 25, 7)
    # Outside quiet hours: unchanged.
    noon = utc(2026, 10, 25, 11)
    assert next_allowed(noon, PARIS, Q_START, Q_END) == noon


def test_campaign_starts_at_the_earliest_zone():
    first = first_local_occurrence(dt.date(2026, 6, 1), dt.time(10), ["America/Los_Angeles", "Europe/Paris"])
    assert first == utc(2026, 6, 1, 8)
