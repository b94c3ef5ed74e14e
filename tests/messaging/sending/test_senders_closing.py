"""Issue 17, closing: what the sweeper gives back to daily caps, the Senders page's day line for a
held-back sender, Twilio 30034 written onto the sender, and the priority lane's choice of sender."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Talent
from messaging.conversations.priority import priority_message_queue, priority_send_batch
from messaging.models import Campaign, OutboundMessage
from messaging.sending import engine as cs
from messaging.sending import worker
from messaging.sending.models import Sender, SenderDailyCount
from messaging.sending.pacing import load_pool
from messaging.sending.plan import sender_day
from messaging.sending.registration import check_registrations, registration_line
from messaging.sending.senders import held_back, lane_address, pacific_day
from messaging.sms.backends.base import SmsError
from messaging.sms.models import OutboundMessage as _Out
from tests.factories import create_fan, create_talent
from tests.messaging.campaign_fixtures import ScriptedBackend, create_campaign
from tests.messaging.sandbox_helpers import sandbox_settings
from tests.messaging.sending.test_senders import _fans_on, _pooled_talent
from tests.messaging.webhooks.test_status_webhook import _payload, _post

Lane = _Out.Lane

S = OutboundMessage.Status


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


# --- the day line of a held-back sender (item 4) --------------------------------------------------
@pytest.mark.django_db
def test_a_held_back_senders_day_line_shows_its_cap_whats_left_and_why(clock):
    talent = _pooled_talent("held-day", tmobile_daily_cap=2000, brand="BHELD")
    sender = Sender.objects.get(talent=talent)
    SenderDailyCount.objects.create(talent=talent, cap_key="tmobile:BHELD", day=pacific_day(clock.now), parts=1200)
    assert sender_day(sender, now=clock.now) == "T-Mobile: 1,200 of 2,000 SMS parts today, 800 left"
    Sender.objects.filter(pk=sender.pk).update(registration_problem="The 10DLC campaign is in review.")
    sender.refresh_from_db()
    assert sender_day(sender, now=clock.now) == (
        "T-Mobile: 1,200 of 2,000 SMS parts today, 800 left. Held back: The 10DLC campaign is in review."
    )
    toll_free = Sender.objects.create(
        talent=talent, kind="toll_free", phone_number="+18005550111", unregistered_at=clock.now
    )
    assert sender_day(toll_free, now=clock.now).startswith("No daily cap. Held back: Twilio error 30034")


# --- Twilio 30034 written onto the sender (item 2) --------------------------------------------------
class RefusingBackend(ScriptedBackend):
    """Twilio refuses every text from `refused` with 30034 (the number is not registered)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused
        self.tries: list[tuple[str, str]] = []  # (to, from)

    def send(self, message):
        self.tries.append((message.to, message.from_))
        if message.from_ == self.refused:
            raise SmsError("Message from an unregistered number", code="30034", permanent=True, status=400)
        return super().send(message)


@pytest.mark.django_db
def test_a_30034_holds_the_sender_back_and_its_fans_get_the_text_from_another_sender(clock):
    """The refused number is marked (when, which message), left out of the pool, and the fans it
    failed for are sent again from the other sender: every fan gets the text once."""
    talent = _pooled_talent("unregistered", kind="short_code", rate_overrides={})
    other = Sender.objects.create(talent=talent, kind="short_code", phone_number="+14155550199", position=1)
    fans = _fans_on(talent, {"unknown": 6})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    backend = RefusingBackend(refused="+14155550100")
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10, backend=backend)
    refused = Sender.objects.get(talent=talent, phone_number="+14155550100")
    assert refused.unregistered_at == clock.now
    tried_first = [to for to, sender in backend.tries if sender == "+14155550100"]
    assert len(tried_first) == 3  # fan id modulo two senders: half the fans
    assert refused.unregistered_message_id in set(
        OutboundMessage.objects.filter(campaign=campaign, to_number__in=tried_first).values_list("pk", flat=True)
    )
    assert [lane.sender_id for lane in load_pool(talent).lanes] == [other.pk]
    back = OutboundMessage.objects.filter(campaign=campaign, status=S.PENDING)
    assert sorted(back.values_list("to_number", flat=True)) == sorted(tried_first)  # back, not failed
    assert set(back.values_list("attempts", flat=True)) == {1}
    clock.now += dt.timedelta(minutes=5)  # past the retry's backoff
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10, backend=backend)
    assert sorted(m.to for m in backend.sent) == sorted(fans)  # every fan once, none lost
    assert {m.from_ for m in backend.sent} == {"+14155550199"}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
    line = registration_line(refused)
    assert line.startswith(f"Not registered: Twilio reported error 30034 on message #{refused.unregistered_message_id}")


@pytest.mark.django_db
def test_a_status_callback_with_30034_marks_the_sender_it_came_from_only(client, personas):
    talent = personas.talent
    ours = Sender.objects.create(talent=talent, kind="10dlc", phone_number="+14155550161", trust_score=80)
    mine_too = Sender.objects.create(talent=talent, kind="10dlc", phone_number="+14155550162", trust_score=80)
    theirs = Sender.objects.create(
        talent=personas.other_talent, kind="10dlc", phone_number="+14155550163", trust_score=80
    )
    campaign = create_campaign(talent, status=Campaign.Status.SENDING)
    row = OutboundMessage.objects.create(
        talent=talent,
        fan=personas.fan,
        campaign=campaign,
        to_number=str(personas.fan.phone),
        body="Hi",
        status=S.QUEUED,
        provider_sid="SM" + "b" * 32,
    )
    # Another talent's number named as From: not ours to mark (the sid is this talent's message).
    forged = _payload(row.provider_sid, "undelivered", ErrorCode="30034", From=theirs.phone_number)
    assert _post(client, forged).status_code == 200
    theirs.refresh_from_db()
    assert theirs.unregistered_at is None
    # A callback without a valid signature changes nothing.
    unsigned = _payload(row.provider_sid, "undelivered", ErrorCode="30034", From=ours.phone_number)
    assert _post(client, unsigned, signature="bad").status_code == 403
    ours.refresh_from_db()
    assert ours.unregistered_at is None
    assert _post(client, unsigned).status_code == 200
    ours.refresh_from_db()
    mine_too.refresh_from_db()
    assert ours.unregistered_at is not None and ours.unregistered_message_id == row.pk
    assert mine_too.unregistered_at is None
    assert held_back(ours) and [lane.sender_id for lane in load_pool(talent).lanes][:1] == [mine_too.pk]
    # The console says why, and a person puts it back once the number is registered.
    client.force_login(personas.owner)
    page = client.get(reverse("admin:messaging_sender_changelist")).content.decode()
    assert f"Not registered: Twilio reported error 30034 on message #{row.pk}" in page
    done = client.post(
        reverse("admin:messaging_sender_changelist"),
        {"action": "clear_unregistered", "_selected_action": [ours.pk]},
        follow=True,
    )
    assert "1 sender(s) back in sending." in done.content.decode()
    ours.refresh_from_db()
    assert ours.unregistered_at is None and not held_back(ours)


@pytest.mark.django_db
def test_a_registration_check_does_not_clear_a_30034(tmp_path):
    """Twilio's campaign can be VERIFIED while this number is not in it: the carriers' 30034 wins."""
    talent = create_talent("check-keeps", sender_number="+14155550171")
    sender = Sender.objects.create(
        talent=talent,
        kind="10dlc",
        messaging_service_sid="MG" + "1" * 32,
        trust_score=80,
        unregistered_at=timezone.now(),
    )
    with sandbox_settings(tmp_path):
        report = check_registrations()
    sender.refresh_from_db()
    assert report.checked == 1 and sender.registration_problem == "" and held_back(sender)


# --- the priority lane sends from a sender that may send (item 3) ---------------------------------
def _lane_text(talent, fan, lane=Lane.COMPLIANCE):
    return priority_message_queue(talent=talent, to=str(fan.phone), body="You are unsubscribed.", fan=fan, lane=lane)


@pytest.mark.django_db
def test_the_priority_lane_sends_from_a_sender_that_may_send():
    talent = create_talent("lane-sender", sender_number="+14155550181")
    own = Sender.objects.create(talent=talent, kind="10dlc", phone_number="+14155550181", trust_score=80)
    spare = Sender.objects.create(talent=talent, kind="toll_free", phone_number="+18005550181", position=1)
    fan = create_fan(talent, "+14155559001")
    backend = ScriptedBackend()
    _lane_text(talent, fan)
    assert priority_send_batch(backend=backend) == 1
    assert backend.sent[-1].from_ == own.phone_number  # its own number while it may send
    Sender.objects.filter(pk=own.pk).update(registration_problem="The 10DLC campaign is in review.")
    _lane_text(talent, fan, lane=Lane.PERSONAL)
    assert priority_send_batch(backend=backend) == 1
    assert backend.sent[-1].from_ == spare.phone_number  # held back: another sender that may
    # No sender may send: STOP/HELP confirmations (and answers) still go, from the talent's number.
    Sender.objects.filter(pk=spare.pk).update(unregistered_at=timezone.now())
    _lane_text(talent, fan)
    assert priority_send_batch(backend=backend) == 1
    assert backend.sent[-1].from_ == "+14155550181"
    assert len(backend.sent) == 3


def test_lane_address_without_a_pool_or_prefetch_is_the_talents_own_number():
    talent = Talent(sender_number="+14155550191", messaging_service_sid="")
    assert lane_address(talent, 7) == {"from_": "+14155550191", "messaging_service_sid": ""}
    service = Talent(sender_number="+14155550191", messaging_service_sid="MG" + "2" * 32)
    assert lane_address(service) == {"from_": "", "messaging_service_sid": "MG" + "2" * 32}


# --- send tasks hand over before they end (item 1) --------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_send_task_out_of_time_queues_the_next_while_its_batches_finish_within_the_rate(settings):
    """Tasks of 0.5 s over 2 s of each lane: each queues its successor at its deadline, while its
    own booked slices still send (a thread stands in for the cluster's next worker). Every fan
    once, no carrier over its rate + 1 in any second, and the rows a task could not send inside
    its own booking went to the next task, not lost."""
    import threading
    import time as clock_time
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from messaging.sms.backends.base import BaseSmsBackend, SendResult

    rates = {"att": 20, "tmobile": 10, "verizon": 4}
    settings.CAMPAIGN_BATCH_SIZE = 10  # a quarter second of the lanes a batch: rows stay due at the deadline
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}  # as a cluster runs tasks (threads here)
    talent = _pooled_talent("handover", rate_overrides=rates)
    fans = _fans_on(talent, {"att": 40, "tmobile": 20, "verizon": 8})
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED, send_at=timezone.now())
    cs.campaign_start(campaign_id=campaign.pk)
    sent: list[tuple[float, str]] = []
    lock = threading.Lock()

    class Backend(BaseSmsBackend):
        async def send_async(self, message):
            with lock:
                sent.append((clock_time.time(), message.to))
                return SendResult(sid=f"SM{len(sent):032d}")

    pool = ThreadPoolExecutor(max_workers=3)
    futures: list = []
    handed: list[float] = []
    ended: list[float] = []

    def hand_over() -> bool:  # worker.hand_over_send, with a thread for the queue
        if not (worker.campaign_has_due_rows(campaign_id=campaign.pk) or worker._others_may_hand_back(campaign.pk)):
            return False
        handed.append(clock_time.monotonic())
        futures.append(pool.submit(task))
        return True

    def task() -> None:
        try:
            report = worker.campaign_send_batches(
                campaign_id=campaign.pk, budget_seconds=0.5, backend=Backend(), hand_over=hand_over
            )
            ended.append(clock_time.monotonic())
            if report.more_due and not report.handed_over:
                futures.append(pool.submit(task))
        finally:
            connections.close_all()

    futures.append(pool.submit(task))
    limit = clock_time.monotonic() + 60
    while futures and clock_time.monotonic() < limit:
        futures.pop(0).result()
    pool.shutdown(wait=True)
    assert sorted(to for _, to in sent) == sorted(fans)  # exactly once each
    per_second = Counter((fans[to], int(at)) for at, to in sent)
    assert all(n <= rates[carrier] + 1 for (carrier, _), n in per_second.items()), per_second
    assert handed and handed[0] < ended[0] - 0.2  # queued while the first task still sent
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


@pytest.mark.django_db
def test_hand_over_queues_one_successor_only_with_rows_due(settings, monkeypatch):
    queued: list[tuple] = []
    monkeypatch.setattr(worker, "async_task", lambda *args, **kwargs: queued.append(args))
    talent = create_talent("hand-over")
    create_fan(talent, "+14155558001")
    # Any hour of the day: in the fan's quiet hours (21:00-08:00 Los Angeles) nothing would be due.
    campaign = create_campaign(
        talent, status=Campaign.Status.SCHEDULED, send_at=timezone.now(), ignore_quiet_hours=True
    )
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    assert not worker.hand_over_send(campaign.pk)  # nothing due yet: not started
    cs.campaign_start(campaign_id=campaign.pk)
    assert worker.hand_over_send(campaign.pk) and queued == [(worker.SEND_FUNC, campaign.pk)]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}  # inline, it would run inside its task
    assert not worker.hand_over_send(campaign.pk) and len(queued) == 1


def test_a_lane_past_its_booking_hands_its_rows_back_unsent():
    """After the hand-over a row whose slot comes past the task's booking is not sent (the next
    task's slice starts there) and costs no attempt."""
    import asyncio

    from messaging.sending.claim import Batch, ClaimedRow
    from messaging.sending.send import _send_rows
    from messaging.sending.senders import Lane as PoolLane
    from messaging.sending.senders import Pool

    lane = PoolLane(0, 1, 0, "att", 100.0, "+14155550100", "", True)
    now = timezone.now()
    rows = [ClaimedRow(i, i, f"+1415555{i:04d}", "Hi", 1) for i in range(3)]
    batch = Batch(1, 1, now, now + dt.timedelta(seconds=60), 100.0, "+14155550100", "", "", 0, rows=rows)
    batch.pool = Pool(1, (lane,), 1)
    backend = ScriptedBackend()
    start = __import__("time").monotonic()
    outcomes = asyncio.run(
        _send_rows(
            batch,
            backend,
            send_deadline=start + 30,
            start_at=start,
            lane_starts={0: start},
            lane_buckets={},
            past_booking=lambda lane, at: True,
        )
    )
    assert [o.kind for o in outcomes] == ["unsent"] * 3 and not any(o.called for o in outcomes)
    assert backend.sent == []


@pytest.mark.django_db
def test_a_task_sends_rows_handed_back_while_it_ran_instead_of_ending(monkeypatch):
    """The predecessor's last record puts unsent rows back after our pass found nothing to claim:
    we go again (before, the rows waited minutes for the dispatcher). Rows due all along that no
    pass can claim end the task as before."""
    talent = create_talent("handed-back")
    create_fan(talent, "+14155558101")
    campaign = create_campaign(
        talent, status=Campaign.Status.SCHEDULED, send_at=timezone.now(), ignore_quiet_hours=True
    )  # any hour of the day, as above
    cs.campaign_start(campaign_id=campaign.pk)
    passes: list[int] = []

    def a_pass(*, campaign_id, backend, deadline, report) -> None:
        passes.append(campaign_id)
        if len(passes) == 1:  # nothing claimable; meanwhile the predecessor hands a row back
            OutboundMessage.objects.filter(campaign_id=campaign_id).update(updated_at=timezone.now())

    monkeypatch.setattr(worker, "_sequential", a_pass)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5, backend=ScriptedBackend())
    assert len(passes) == 2  # went again for the row handed back, then ended (nothing new)


# --- the priority lane's texts count under the daily caps (sixth session, the audit's gap) ----------
@pytest.mark.django_db
def test_the_lanes_texts_to_tmobile_fans_count_under_the_brands_daily_cap_and_are_never_held():
    talent = _pooled_talent("lane-cap", tmobile_daily_cap=2, brand="BLANE")
    fans = _fans_on(talent, {"tmobile": 3, "att": 1})
    backend = ScriptedBackend()
    for phone in fans:
        fan = talent.fans.get(phone=phone)
        _lane_text(talent, fan)  # compliance lane: a STOP's confirmation each
    assert priority_send_batch(backend=backend) == 4
    assert len(backend.sent) == 4  # the cap is 2 parts: counted, never a reason to hold a confirmation
    counted = SenderDailyCount.objects.get(talent=talent, cap_key="tmobile:BLANE", day=pacific_day(timezone.now()))
    assert counted.parts == 3  # the three T-Mobile fans' texts, one part each; AT&T has no daily cap
    # A campaign claimed after them sees the cap spent: its T-Mobile fans wait for tomorrow.
    day = sender_day(Sender.objects.get(talent=talent), now=timezone.now())
    assert "3 of 2" in day or "0 left" in day, day


# --- /metrics: the send rate per pool sender (sixth session, the audit's gap) ---------------------
@pytest.mark.django_db
def test_metrics_count_what_each_pool_sender_sent_campaigns_and_lane_together(clock, client):
    from tests.messaging.sending.test_senders import two_sender_blast

    talent, _, backend = two_sender_blast("per-sender", clock)
    sent = {"+14155550100": 0, "+14155550199": 0}
    for _, _, sender in backend.times:
        sent[sender] += 1
    fan = talent.fans.order_by("id").first()
    _lane_text(talent, fan)  # one more part, from the talent's own number (the lane's sender)
    assert priority_send_batch(backend=backend) == 1
    sent[backend.sent[-1].from_] += 1
    assert sum(sent.values()) == 9 and all(sent.values())
    text = client.get("/metrics").content.decode()
    for number, parts in sent.items():
        line = f'fancommunity_sender_sent_parts_total{{sender="{number}",talent="per-sender"}} {float(parts)}'
        assert line in text, (line, [t for t in text.splitlines() if "sender_sent" in t])
    assert not SenderDailyCount.objects.filter(cap_key__startswith="tmobile:").exists()  # no cap here
