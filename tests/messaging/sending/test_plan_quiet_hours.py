"""Issue 17 §1, audited: "the composer ... warns before scheduling when ... quiet hours will split
it". plan_warnings had no test. Quiet hours are the fan's local time (the engine defers each row by
its fan's zone), so the warning must hold for the audience's zones, not only the talent's."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from accounts.models import Fan
from messaging.campaigns.services import campaign_estimate
from messaging.sending.models import Sender
from tests.factories import create_talent
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
SPLIT = "when quiet hours begin"


def _blast(*, talent_zone: str, fans_zone: str, local_start: dt.time):
    """1,000 fans, three SMS parts each, at a long code's 1 part a second: a 50-minute blast."""
    talent = create_talent("quiet", sender_number="+14155550100", default_time_zone=talent_zone, parts_per_second=1)
    Sender.objects.create(talent=talent, kind="long_code", phone_number="+14155550100")
    Fan.objects.bulk_create(
        Fan(talent=talent, phone=f"+1415444{i:04d}", status="active", time_zone=fans_zone) for i in range(1000)
    )
    tomorrow = dt.datetime.now(zoneinfo.ZoneInfo(talent_zone)).date() + dt.timedelta(days=1)
    start = dt.datetime.combine(tomorrow, local_start, tzinfo=zoneinfo.ZoneInfo(talent_zone))
    campaign = create_campaign(talent, body="Hi " * 110)  # 330 GSM characters: three SMS parts
    campaign.send_at = start
    campaign.save()
    return campaign_estimate(campaign=campaign)


def test_a_blast_that_runs_into_the_talents_quiet_hours_is_warned_about():
    estimate = _blast(talent_zone="America/New_York", fans_zone="America/New_York", local_start=dt.time(20, 30))
    assert estimate.duration.startswith("About 50 min")
    assert any(SPLIT in w for w in estimate.warnings), estimate.warnings


def test_a_blast_that_ends_before_quiet_hours_is_not():
    estimate = _blast(talent_zone="America/New_York", fans_zone="America/New_York", local_start=dt.time(19, 0))
    assert not any(SPLIT in w for w in estimate.warnings), estimate.warnings


def test_a_blast_that_runs_into_the_fans_quiet_hours_in_another_zone_is_warned_about():
    # 17:30 in Los Angeles is 20:30 in New York: the New York fans' quiet hours (21:00) split it.
    estimate = _blast(talent_zone="America/Los_Angeles", fans_zone="America/New_York", local_start=dt.time(17, 30))
    assert any(SPLIT in w for w in estimate.warnings), estimate.warnings


def test_a_blast_after_quiet_hours_began_in_a_fans_zone_is_warned_about():
    # 19:00 in Los Angeles is 22:00 in New York: those fans are already in quiet hours.
    estimate = _blast(talent_zone="America/Los_Angeles", fans_zone="America/New_York", local_start=dt.time(19, 0))
    assert any(SPLIT in w and "America/New_York" in w for w in estimate.warnings), estimate.warnings


def test_fans_in_a_zone_behind_the_talents_do_not_warn_early():
    # 20:00 in New York is 17:00 in Los Angeles: a 50-minute blast ends long before 21:00 there.
    estimate = _blast(talent_zone="America/New_York", fans_zone="America/Los_Angeles", local_start=dt.time(20, 0))
    assert not any(SPLIT in w for w in estimate.warnings), estimate.warnings
