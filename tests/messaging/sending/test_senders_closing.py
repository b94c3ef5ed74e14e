"""Issue 17, closing: what the sweeper gives back to daily caps, the Senders page's day line for a
held-back sender, Twilio 30034 written onto the sender, and the priority lane's choice of sender."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from messaging.models import Campaign, OutboundMessage
from messaging.sending import engine as cs
from messaging.sending.models import SenderDailyCount
from tests.messaging.campaign_fixtures import ScriptedBackend, create_campaign
from tests.messaging.sending.test_senders import _fans_on, _pooled_talent

S = OutboundMessage.Status


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)

    c = Clock()
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    return c


# --- the sweeper gives back what a dead worker never sent (item 5) ---------------------------------
@pytest.mark.django_db
def test_the_sweeper_gives_a_dead_workers_unsent_parts_back_to_the_daily_cap_once(clock):
    """A worker claims (the claim counts the parts under T-Mobile's cap) and dies. The sweeper finds
    one text at Twilio (it left: stays counted) and not the others (pending again: given back). A
    second sweep, and the later claim of the same rows, count them once, not twice or never."""
    talent = _pooled_talent("sweep-refund", tmobile_daily_cap=100, brand="BSWEEP")
    _fans_on(talent, {"tmobile": 3, "att": 1})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    assert batch is not None and len(batch.rows) == 4
    counted = SenderDailyCount.objects.get(talent=talent, cap_key="tmobile:BSWEEP")
    assert counted.parts == 3  # AT&T's text is under no cap
    backend = ScriptedBackend()
    tmobile = [r for r in batch.rows if batch.pool.lanes[r.lane].cap_key]
    left = tmobile[0]
    backend.log["SM-left"] = (left.to, left.body)  # it reached Twilio before the worker died
    OutboundMessage.objects.filter(pk=left.id).update(body=left.body)

    clock.now += dt.timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS + 1)  # the lease runs out
    counts = cs.campaign_sweep(campaign_id=campaign.pk, backend=backend)
    assert counts["found"] == 1 and counts["resend"] == 3
    counted.refresh_from_db()
    assert counted.parts == 1  # only the text that left
    assert cs.campaign_sweep(campaign_id=campaign.pk, backend=backend)["resend"] == 0
    counted.refresh_from_db()
    assert counted.parts == 1

    again = cs.campaign_claim_batch(campaign_id=campaign.pk)
    assert again is not None and len(again.rows) == 3
    counted.refresh_from_db()
    assert counted.parts == 3  # each text counted once
