"""Sender pools (issue 17): lanes of (sender, carrier) with the carriers' limits, per-lane pacing
in the engine, T-Mobile's daily cap per brand, the one-sender pool of existing talents, and the
priority lane still booking first on the talent's own number."""

from __future__ import annotations

import datetime as dt
import importlib
import time

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from messaging.models import Campaign, OutboundMessage
from messaging.sending import engine as cs
from messaging.sending import worker
from messaging.sending.models import FanCarrier, Sender, SenderClock, SenderDailyCount
from messaging.sending.pacing import load_pool, reserve_lanes_op
from messaging.sending.senders import OTHER, build_pool, next_pacific_midnight, sender_rates
from messaging.sending.sql import run_sync
from messaging.sms.backends.base import SendResult
from tests.factories import create_fan, create_talent
from tests.messaging.campaign_fixtures import ScriptedBackend, create_campaign

S = OutboundMessage.Status
THREE_CARRIERS = {"att": 75, "tmobile": 40, "verizon": 4}


# --- the carriers' limits (pure) ------------------------------------------------------------------
def test_10dlc_rates_follow_the_trust_score_and_unknown_carriers_get_the_slowest():
    assert sender_rates("10dlc", 80, {}) == {"att": 75, "tmobile": 75, "verizon": 75, OTHER: 75}
    assert sender_rates("10dlc", 60, {})["tmobile"] == 40
    assert sender_rates("10dlc", 20, {})["verizon"] == 4
    assert sender_rates("10dlc", None, THREE_CARRIERS)[OTHER] == 4  # the slowest of the three
    assert sender_rates("toll_free", None, {}) == {"all": 3}
    assert sender_rates("short_code", None, {}) == {"all": 100}
    assert sender_rates("long_code", None, {"all": 7}) == {"all": 7}


def test_caps_reset_at_midnight_pacific_across_dst():
    summer = dt.datetime(2026, 7, 1, 6, 59, tzinfo=dt.UTC)  # 23:59 PDT on June 30
    assert next_pacific_midnight(summer) == dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)
    winter = dt.datetime(2026, 12, 1, 18, 0, tzinfo=dt.UTC)  # 10:00 PST
    assert next_pacific_midnight(winter) == dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_sender_says_what_is_wrong_with_it():
    talent = create_talent("bad-sender")
    with pytest.raises(ValidationError) as no_address:
        Sender(talent=talent, kind="toll_free").full_clean()
    assert "number or a Messaging Service" in str(no_address.value)
    with pytest.raises(ValidationError) as no_score:
        Sender(talent=talent, kind="10dlc", phone_number="+14155550100").full_clean()
    assert "trust score" in str(no_score.value)
    with pytest.raises(ValidationError) as bad_carrier:
        Sender(talent=talent, kind="10dlc", phone_number="+14155550100", rate_overrides={"sprint": 5}).full_clean()
    assert "Unknown carrier 'sprint'" in str(bad_carrier.value)


# --- the engine ----------------------------------------------------------------------------------
class TimedBackend(ScriptedBackend):
    """Remembers when each text left and from which sender."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[float, str, str]] = []  # (monotonic, to, from)

    def send(self, message) -> SendResult:
        self.times.append((time.monotonic(), message.to, message.from_))
        return super().send(message)


def _pooled_talent(slug: str, **sender):
    talent = create_talent(slug, sender_number="+14155550100")
    talent.quiet_hours_start = talent.quiet_hours_end = dt.time(0, 0)
    talent.save()
    defaults = {"kind": "10dlc", "phone_number": "+14155550100", "rate_overrides": THREE_CARRIERS}
    Sender.objects.create(talent=talent, **{**defaults, **sender})
    return talent


def _fans_on(talent, carriers: dict[str, int]):
    fans, n = {}, 0
    for carrier, count in carriers.items():
        for _ in range(count):
            fan = create_fan(talent, f"+1415888{n:04d}")
            n += 1
            if carrier != "unknown":
                FanCarrier.objects.create(fan=fan, carrier=carrier, carrier_name=carrier)
            fans[str(fan.phone)] = carrier
    return fans


@pytest.mark.django_db
def test_a_10dlc_blast_is_paced_per_carrier_from_the_senders_number(clock):
    talent = _pooled_talent("tendlc")
    fans = _fans_on(talent, {"att": 6, "tmobile": 4, "verizon": 3, "unknown": 2})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    backend = TimedBackend()
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=30, backend=backend)
    assert sorted(to for _, to, _ in backend.times) == sorted(fans)  # every fan once
    assert {sender for _, _, sender in backend.times} == {"+14155550100"}
    slow = sorted(t for t, to, _ in backend.times if fans[to] in ("verizon", "unknown"))
    # Verizon at 4 a second; unknown carriers at the slowest rate (4) on a lane of their own.
    verizon = sorted(t for t, to, _ in backend.times if fans[to] == "verizon")
    assert verizon[-1] - verizon[0] >= 2 / 4 - 0.05
    assert len(slow) == 5
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def two_sender_blast(slug: str, clock):
    """A talent with two short codes (+14155550100, +14155550199), 8 fans, one campaign sent."""
    talent = _pooled_talent(slug, kind="short_code", rate_overrides={})
    Sender.objects.create(talent=talent, kind="short_code", phone_number="+14155550199", position=1)
    _fans_on(talent, {"unknown": 8})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    backend = TimedBackend()
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=30, backend=backend)
    return talent, campaign, backend


@pytest.mark.django_db
def test_two_senders_share_the_fans_and_a_fan_keeps_one_sender(clock):
    talent, campaign, backend = two_sender_blast("two-senders", clock)
    by_sender: dict[str, list[str]] = {}
    for _, to, sender in backend.times:
        by_sender.setdefault(sender, []).append(to)
    assert sorted(by_sender) == ["+14155550100", "+14155550199"] and len(backend.times) == 8
    pool = load_pool(talent)
    for row in OutboundMessage.objects.filter(campaign=campaign):
        lane = pool.lane_for(row.fan_id, None)
        assert row.to_number in by_sender[lane.from_]  # the same rule every claim applies


@pytest.mark.django_db
def test_the_tmobile_daily_cap_holds_the_rest_until_midnight_pacific(clock):
    talent = _pooled_talent("capped", tmobile_daily_cap=2, brand="BNOVA")
    fans = _fans_on(talent, {"tmobile": 4, "att": 2})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    backend = TimedBackend()
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10, backend=backend)
    sent = [to for _, to, _ in backend.times]
    assert sorted(fans[to] for to in sent) == ["att", "att", "tmobile", "tmobile"]
    midnight = next_pacific_midnight(clock.now)
    held = OutboundMessage.objects.filter(campaign=campaign, status=S.PENDING)
    assert held.count() == 2 and set(held.values_list("not_before", flat=True)) == {midnight}
    assert SenderDailyCount.objects.get(talent=talent, cap_key="tmobile:BNOVA").parts == 2
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENDING  # not done: waiting
    clock.now = midnight + dt.timedelta(seconds=1)  # a new day at T-Mobile
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10, backend=backend)
    assert sorted(to for _, to, _ in backend.times) == sorted(fans)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


@pytest.mark.django_db
def test_a_batch_handed_back_unsent_gives_its_parts_back_to_the_daily_cap(clock):
    """The claim books parts under T-Mobile's cap before they leave; what came back unsent (the
    lease ran short), stopped or refused by Twilio must not stay counted, or a blast whose batches
    were handed back would wait for midnight with cap it never used. What was sent stays."""
    from messaging.sending.send import Outcome

    talent = _pooled_talent("refund", tmobile_daily_cap=100, brand="BREFUND")
    _fans_on(talent, {"tmobile": 4})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    assert batch is not None and len(batch.rows) == 4
    counted = SenderDailyCount.objects.get(talent=talent, cap_key="tmobile:BREFUND")
    assert counted.parts == 4
    sent, unsent, stopped, refused = batch.rows
    outcomes = [
        Outcome(sent, "sent", result=SendResult(sid="SM1", parts=1), called=True),
        Outcome(unsent, "unsent"),
        Outcome(stopped, "stopped"),
        Outcome(refused, "retry", called=True),
    ]
    cs.batch_record(batch=batch, outcomes=outcomes)
    counted.refresh_from_db()
    assert counted.parts == 1  # only the text that left
    # The rows handed back are claimed again later today and counted once more, not twice.
    clock.now += dt.timedelta(minutes=20)
    again = cs.campaign_claim_batch(campaign_id=campaign.pk)
    assert again is not None and {r.id for r in again.rows} == {unsent.id, refused.id}
    counted.refresh_from_db()
    assert counted.parts == 3


@pytest.mark.django_db
def test_a_claim_gives_each_lane_the_same_span_of_its_own_time(clock):
    """A batch holds a pipeline slot until its slowest lane is done, so a claim takes rows per
    lane in proportion to the lane's rate: not 20 Verizon rows (5 s) beside 20 AT&T rows (0.3 s)."""
    talent = _pooled_talent("spans")
    fans = _fans_on(talent, {"att": 40, "verizon": 40})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk, limit=20)
    assert batch is not None
    carriers = [fans[row.to] for row in batch.rows]
    # 20 rows over 123 parts a second (75 + 40 + 4 + 4): 0.16 s of each lane, never more (a lane
    # past the span holds the slot: 13 AT&T rows were 0.173 s); a slow lane gets one row at least.
    assert carriers.count("att") == 12 and carriers.count("verizon") == 1


@pytest.mark.django_db
def test_priority_texts_book_first_on_the_talents_own_number(clock):
    """The priority lane books the talent's SenderClock; a campaign lane of the same number waits
    behind what it booked (issue 10's one pacing rule), another sender does not."""
    talent = _pooled_talent("priority-first")
    other = Sender.objects.create(talent=talent, kind="toll_free", phone_number="+18005550100", position=1)
    pool = load_pool(talent)
    SenderClock.objects.filter(talent=talent).update(next_free_at=clock.now + dt.timedelta(seconds=10))
    att = next(lane for lane in pool.lanes if lane.carrier == "att")
    free = next(lane for lane in pool.lanes if lane.sender_id == other.pk)
    delays = run_sync(reserve_lanes_op, pool, {att.index: 75, free.index: 3}, clock.now)
    assert delays[att.index] >= 10 and delays[free.index] == 0


@pytest.mark.django_db
def test_existing_talents_migrate_to_a_one_sender_pool_that_sends_as_before():
    migration = importlib.import_module("messaging.migrations.0011_sender_pools")
    talent = create_talent("old-talent", sender_number="+14155550142", parts_per_second=3)
    migration.one_sender_pools(apps, None)
    migration.one_sender_pools(apps, None)  # twice changes nothing
    (sender,) = Sender.objects.filter(talent=talent)
    assert sender.phone_number == "+14155550142" and sender.kind == "toll_free"
    assert sender.rate_overrides == {"all": 3}
    pool = build_pool(talent, [sender])
    assert pool.simple and pool.total_rate == 3  # the engine's one-lane path, at the same rate


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_never_exceeds_a_carriers_rate_in_any_second_of_the_ledger(tmp_path, settings):
    """Through the pipeline, the twilio SDK and the sandbox: per carrier, at most its rate plus one
    text in any one second of the sandbox's ledger (date_created), everyone exactly once."""
    import json
    from collections import Counter

    from messaging.sms.backends.twilio import TwilioBackend
    from tests.messaging.sandbox_helpers import sandbox_settings

    settings.CAMPAIGN_STATUS_CALLBACKS = False
    rates = {"att": 20, "tmobile": 10, "verizon": 4}
    talent = _pooled_talent("paced", rate_overrides=rates)
    fans = _fans_on(talent, {"att": 60, "tmobile": 30, "verizon": 12})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    cs.campaign_start(campaign_id=campaign.pk)
    with sandbox_settings(tmp_path):
        worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=60, backend=TwilioBackend())
    records = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert sorted(r["To"] for r in records) == sorted(fans)  # exactly once each
    assert {r.get("From") for r in records} == {"+14155550100"}
    per_second = Counter((fans[r["To"]], r["date_created"]) for r in records)
    for (carrier, second), n in per_second.items():
        assert n <= rates[carrier] + 1, (carrier, second, n)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
