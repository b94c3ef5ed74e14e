"""The composer's "how long will it take" (issue 17): the pool's lanes in parallel, the busiest
lane's time, T-Mobile's cap holding the rest for tomorrow, and the campaign estimate carrying it."""

from __future__ import annotations

import datetime as dt

import pytest

from messaging.campaigns.services import campaign_estimate
from messaging.sending.models import FanCarrier, Sender, SenderDailyCount
from messaging.sending.plan import duration_text, plan_blast
from messaging.sending.senders import build_pool, pacific_day
from tests.factories import create_fan, create_talent
from tests.messaging.campaign_fixtures import create_campaign


class _Talent:
    pk = 1
    sender_number = "+14155550100"
    messaging_service_sid = ""
    parts_per_second = 1


def _sender(pk, **fields):
    defaults = {"kind": "10dlc", "phone_number": f"+1415555{pk:04d}", "trust_score": 80, "brand": "B1"}
    return Sender(pk=pk, **{**defaults, **fields})


def test_three_10dlc_senders_at_75_a_carrier_and_the_tmobile_cap():
    pool = build_pool(_Talent(), [_sender(i, tmobile_daily_cap=200_000) for i in (1, 2, 3)])
    carriers = {"att": 400_000, "tmobile": 240_000, "verizon": 360_000}
    plan = plan_blast(pool, texts=1_000_000, parts_per_text=1, carriers=carriers, cap_used={})
    # The brand's T-Mobile cap (one brand: shared by the three numbers) holds 40,000 for tomorrow.
    assert plan.held_by_cap == {"T-Mobile": 40_000}
    # AT&T is the busiest lane: 400,000 / 3 senders / 75 a second = 1,778 s; 960,000 go today.
    assert plan.seconds == pytest.approx(400_000 / 3 / 75)
    assert plan.summary() == "About 30 min at 540/s on 3 senders; 40,000 over today's T-Mobile cap go tomorrow."


def test_unknown_carriers_go_at_the_slowest_rate_and_parts_count():
    pool = build_pool(
        _Talent(), [_sender(1, trust_score=None, rate_overrides={"att": 75, "tmobile": 40, "verizon": 4})]
    )
    plan = plan_blast(pool, texts=1000, parts_per_text=2, carriers={}, cap_used={})
    assert plan.seconds == pytest.approx(1000 * 2 / 4)  # all unknown: 4 a second, two parts each
    assert duration_text(plan.seconds) == "8 min" and duration_text(4800) == "1 h 20 min"


def test_a_short_code_and_the_cap_already_used_today():
    pool = build_pool(_Talent(), [_sender(1, kind="sole_proprietor", trust_score=None)])
    plan = plan_blast(pool, texts=1500, parts_per_text=1, carriers={}, cap_used={"sender:1": 600})
    assert plan.held_by_cap == {"daily": 1100} and plan.seconds == pytest.approx(400)


@pytest.mark.django_db
def test_the_campaign_estimate_says_how_long_and_warns_about_the_cap():
    talent = create_talent("planned", sender_number="+14155550100")
    Sender.objects.create(
        talent=talent, kind="10dlc", phone_number="+14155550100", trust_score=80, brand="B", tmobile_daily_cap=3
    )
    for i in range(6):
        fan = create_fan(talent, f"+1415444{i:04d}")
        FanCarrier.objects.create(fan=fan, carrier="tmobile" if i < 5 else "att")
    SenderDailyCount.objects.create(
        talent=talent, cap_key="tmobile:B", day=pacific_day(dt.datetime.now(dt.UTC)), parts=1
    )
    estimate = campaign_estimate(campaign=create_campaign(talent, body="Hi"))
    assert estimate.recipients == 6
    assert estimate.duration.endswith("; 3 over today's T-Mobile cap go tomorrow.")
    assert "3 texts are over today's T-Mobile cap: they go after midnight Pacific time." in estimate.warnings
