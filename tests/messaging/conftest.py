"""Fixtures for the audience tests: a few fans with varied profiles."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import create_fan


def years_ago(years: int, days: int = 0) -> dt.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) - dt.timedelta(days=days)


@pytest.fixture
def crowd(personas):
    """Six fans of Nova with distinct traits (plus personas.fan), one of the rival."""
    talent = personas.talent
    now = timezone.now()
    fans = {
        "sf": create_fan(
            talent,
            "+14155550201",
            city="San Francisco",
            region="CA",
            postal_code="94110",
            birth_date=years_ago(20),
            last_reply_at=now - dt.timedelta(days=2),
            shares_with_partners=True,
        ),
        "la": create_fan(
            talent,
            "+12135550202",
            city="Los Angeles",
            region="CA",
            postal_code="90012",
            birth_date=years_ago(35),
            last_sent_at=now - dt.timedelta(days=40),
            source="web",
        ),
        "toronto": create_fan(
            talent,
            "+14165550203",
            country="CA",
            city="Toronto",
            region="ON",
            postal_code="M5V 2T6",
            time_zone="America/Toronto",
            birth_date=years_ago(17, days=-1),  # turns 17 tomorrow: still 16
            last_click_at=now - dt.timedelta(days=1),
            last_sent_at=now - dt.timedelta(days=1),
        ),
        "optout": create_fan(talent, "+14155550204", status="opted_out", city="San Francisco", postal_code="94117"),
        "old": create_fan(
            talent,
            "+13055550205",
            region="FL",
            city="Miami",
            birth_date=None,
            joined_at=now - dt.timedelta(days=400),
            first_name="=HYPERLINK(1)",
            last_name="-minus",
        ),
        "pending": create_fan(talent, "+13055550206", status="pending", region="FL"),
    }
    return fans


# Campaign tests' fixtures (a scriptable backend; quick in-batch retries).
from tests.messaging.campaign_fixtures import backend, quick_retries  # noqa: E402, F401


class FrozenClock:
    """timezone.now() held at `now` until a test moves it (`advance(minutes=5)`)."""

    def __init__(self) -> None:
        # 18:00 UTC today: daytime for the US fans, so quiet hours never get in the way.
        self.now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)

    def advance(self, **kwargs) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch) -> FrozenClock:
    """The frozen clock for tests of the send engine and campaigns (a module may define its own)."""
    c = FrozenClock()
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    return c
