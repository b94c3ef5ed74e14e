"""Helpers for the automation tests: a movable clock, the scheduler and the engine run at "now"."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from messaging.automations.joins import on_fan_joined
from messaging.automations.series import scheduled_run_due
from messaging.models import Campaign, WelcomeSeries, WelcomeStep
from messaging.sending import worker
from tests.factories import create_fan

UTC = dt.UTC
# 11:00 in Los Angeles (the factory's fan zone), a Wednesday in June: daytime, no DST change near.
NOON_LA = dt.datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def at(self, now: dt.datetime) -> dt.datetime:
        self.now = now
        return now

    def advance(self, **delta) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock(NOON_LA)
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    return c


def run(clock: Clock, backend) -> list[str]:
    """One scheduler run at the clock's time, then every sending campaign's due rows; the bodies sent."""
    before = len(backend.sent)
    scheduled_run_due(now=clock.now)
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("id", flat=True):
        worker.campaign_send_batches(campaign_id=campaign_id, budget_seconds=5, backend=backend)
    return [m.body for m in backend.sent[before:]]


def live_series(personas, *steps: tuple[int, str], **step_fields) -> WelcomeSeries:
    """A live series of (delay minutes, body) steps, made live by the talent's manager."""
    from messaging.automations.series import series_go_live

    series = WelcomeSeries.objects.create(talent=personas.talent, name="Welcome")
    for position, (delay, body) in enumerate(steps, start=1):
        WelcomeStep.objects.create(series=series, position=position, delay_minutes=delay, body=body, **step_fields)
    return series_go_live(series=series, actor=personas.manager)


def join(personas, phone: str, how: str = "console", **fields):
    fan = create_fan(personas.talent, phone, joined_at=timezone.now(), **fields)
    on_fan_joined(fan=fan, source=how)
    return fan


def stop(fan) -> None:
    fan_opt_out(fan=fan, evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD, evidence="STOP"))
