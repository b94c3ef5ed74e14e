"""Fans' carriers from Twilio Lookup v2 (issue 17): the real twilio SDK against the sandbox's
deterministic /v2/PhoneNumbers answer, opt-in per talent, looked up once and cached on the fan,
and used by the claim (unknown carriers go on the slowest lane)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from messaging.models import Campaign, OutboundMessage
from messaging.sandbox.server import lookup_answer
from messaging.sending import engine as cs
from messaging.sending.carriers import campaign_carriers_lookup
from messaging.sending.models import FanCarrier, Sender, SenderPool
from messaging.sending.pacing import load_pool
from messaging.sms.lookup import carrier_from_name, lookup_carriers
from tests.factories import create_fan, create_talent
from tests.messaging.campaign_fixtures import create_campaign
from tests.messaging.sandbox_helpers import sandbox_settings

pytestmark = pytest.mark.django_db


def test_the_sandbox_answers_line_type_intelligence_from_the_number():
    answer = lookup_answer("+14155550104", "line_type_intelligence")
    assert answer["valid"] and answer["line_type_intelligence"]["carrier_name"] == "T-Mobile USA, Inc."
    assert lookup_answer("+14155550104")["line_type_intelligence"] is None  # only when asked for
    assert not lookup_answer("12")["valid"]
    assert carrier_from_name("New Cingular Wireless PCS, LLC") == "att"
    assert carrier_from_name("Sprint Spectrum, L.P.") == "tmobile"
    assert carrier_from_name("Cellco Partnership dba Verizon Wireless") == "verizon"
    assert carrier_from_name("Bandwidth.com") == "other" and carrier_from_name("") == "unknown"


def test_lookups_go_through_the_sdk_to_the_sandbox(tmp_path):
    with sandbox_settings(tmp_path):
        found = lookup_carriers(["+14155550100", "+14155550105", "+14155550108", "+14155550109"])
    assert {n: i.carrier for n, i in found.items()} == {
        "+14155550100": "att",
        "+14155550105": "tmobile",
        "+14155550108": "verizon",
        "+14155550109": "other",
    }
    assert found["+14155550109"].line_type == "nonFixedVoip"


def test_wrong_credentials_leave_the_carrier_unknown(tmp_path, settings):
    with sandbox_settings(tmp_path):
        settings.TWILIO_AUTH_TOKEN = "not-the-token"
        assert lookup_carriers(["+14155550100"]) == {}


def test_a_campaigns_recipients_are_looked_up_once_only_when_the_talent_opted_in(tmp_path, monkeypatch):
    now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    talent = create_talent("lookups", sender_number="+14155550100")
    Sender.objects.create(talent=talent, kind="10dlc", phone_number="+14155550100", trust_score=80)
    fans = [create_fan(talent, f"+1415999000{i}") for i in range(5)]
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=now - dt.timedelta(seconds=1))
    cs.campaign_start(campaign_id=campaign.pk)
    with sandbox_settings(tmp_path):
        assert campaign_carriers_lookup(campaign_id=campaign.pk)["looked_up"] == 0  # not opted in: no cost
        SenderPool.objects.create(talent=talent, lookup_carriers=True)
        assert campaign_carriers_lookup(campaign_id=campaign.pk, limit=3) == {"looked_up": 3, "more": 1}
        assert campaign_carriers_lookup(campaign_id=campaign.pk) == {"looked_up": 2, "more": 0}
        assert campaign_carriers_lookup(campaign_id=campaign.pk)["looked_up"] == 0  # cached: asked once
    carriers = dict(FanCarrier.objects.values_list("fan_id", "carrier"))
    assert carriers == {f.pk: ("att" if i < 4 else "tmobile") for i, f in enumerate(fans)}
    # The claim reads the cached carrier: each row lands on its carrier's lane.
    pool = load_pool(talent)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    lanes = {row.fan_id: pool.lanes[row.lane].carrier for row in batch.rows}
    assert lanes == carriers
    assert OutboundMessage.objects.filter(campaign=campaign, status="claimed").count() == 5
