"""seed_demo fills every console page: team, tags, lists, a segment, a finished campaign with
deliveries, clicks and replies; a second run adds nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.management.commands import seed_demo
from accounts.models import Invite, Talent, TeamMember
from messaging.audience.models import ContactList, FanTag, Segment, Tag
from messaging.automations.keyword_models import Keyword
from messaging.automations.series_models import WelcomeSeries, WelcomeStep
from messaging.campaigns.models import Campaign, Click
from messaging.campaigns.services import campaign_report
from messaging.sms.models import InboundMessage, OutboundMessage

pytestmark = pytest.mark.django_db


def _counts():
    return [
        m.objects.count()
        for m in (
            TeamMember,
            Invite,
            Tag,
            FanTag,
            ContactList,
            Segment,
            Campaign,
            OutboundMessage,
            Click,
            InboundMessage,
            Keyword,
            WelcomeSeries,
            WelcomeStep,
        )
    ]


def test_seed_demo_shows_every_feature_once(monkeypatch):
    monkeypatch.setattr(seed_demo, "DEMO_FANS", 400)  # the 2,000 are tested in test_demo_data
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first  # idempotent
    talent = Talent.objects.get(slug="demo")
    assert set(TeamMember.objects.filter(talent=talent).values_list("role", flat=True)) == {"owner", "manager", "agent"}
    assert Invite.objects.filter(talent=talent, status="pending").count() == 1
    assert Tag.objects.filter(talent=talent).count() == 3 and FanTag.objects.count() > 100
    assert ContactList.objects.filter(talent=talent).count() == 2
    campaign = Campaign.objects.get(talent=talent, status="completed")
    messages = OutboundMessage.objects.filter(campaign=campaign)
    assert messages.filter(status="delivered").count() > 100 and messages.filter(status="undelivered").exists()
    assert "/l/" in messages.first().body and "{" not in messages.first().body
    assert Click.objects.filter(link__campaign=campaign).count() > 20
    assert InboundMessage.objects.filter(talent=talent, needs_reply=True).count() == 5
    assert OutboundMessage.objects.filter(talent=talent, kind="reply", sent_by__isnull=False).count() == 1
    report = campaign_report(campaign=campaign)
    assert report["delivered"] > 100 and report["clicks"] > 20 and report["replies"] == 6
