"""The schedule confirmation's daily-cap figure: exact while the recent campaigns are small, a
scaled sample above that (a million-row blast this morning), never "unknown" (issue 12 §2)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Fan
from messaging.campaigns import planning
from messaging.campaigns.services import campaign_schedule_plan
from messaging.models import Campaign, OutboundMessage
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
S = OutboundMessage.Status


def _audience_with_earlier_texts(talent, *, fans: int, texted: int, status=S.DELIVERED):
    """`fans` active fans; the first `texted` of them (by id) got this morning's campaign."""
    made = Fan.objects.bulk_create(
        [
            Fan(talent=talent, phone=f"+1415666{i:04d}", status=Fan.Status.ACTIVE, time_zone="America/New_York")
            for i in range(fans)
        ]
    )
    made.sort(key=lambda fan: fan.pk)
    morning = create_campaign(
        talent,
        status=Campaign.Status.COMPLETED,
        started_at=timezone.now() - dt.timedelta(hours=3),
        recipients_count=texted,
    )
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                talent=talent,
                campaign=morning,
                fan=fan,
                kind=OutboundMessage.Kind.CAMPAIGN,
                to_number=str(fan.phone),
                body="Hi",
                status=status,
            )
            for fan in made[:texted]
        ]
    )


def test_cap_is_counted_exactly_for_small_recent_campaigns(personas):
    talent = personas.talent
    talent.daily_frequency_cap = 1
    talent.save()
    _audience_with_earlier_texts(talent, fans=30, texted=12)
    plan = campaign_schedule_plan(campaign=create_campaign(talent))
    assert (plan.capped_estimate, plan.capped_exact) == (12, True)


def test_cap_above_the_exact_limit_is_a_scaled_sample_not_unknown(personas, monkeypatch):
    """Before: above 200,000 recent rows the page said "checked when it starts" (None)."""
    talent = personas.talent
    talent.daily_frequency_cap = 1
    talent.save()
    _audience_with_earlier_texts(talent, fans=400, texted=160)  # 40% of the audience (+ Fiona)
    monkeypatch.setattr(planning, "CAP_EXACT_LIMIT", 10)
    monkeypatch.setattr(planning, "CAP_SAMPLE", 50)  # one fan in 8 by id
    plan = campaign_schedule_plan(campaign=create_campaign(talent))
    assert plan.recipients == 401 and plan.capped_exact is False
    assert 160 - 16 <= plan.capped_estimate <= 160 + 16  # a systematic sample: within one step's share
    # Failed texts never reached the fan: they do not count towards the cap.
    OutboundMessage.objects.filter(talent=talent).update(status=S.FAILED)
    assert campaign_schedule_plan(campaign=create_campaign(talent)).capped_estimate == 0
