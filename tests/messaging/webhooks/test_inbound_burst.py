"""The celebrity moment: the webhook stores and answers; the lane applies rules and sends in batches.

Here the task queue really enqueues (Conf.SYNC off), as in production, so each test sees what the
webhook alone did before any lane task ran; then it runs the lane task itself.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import transaction
from django.test import TestCase
from django_q.brokers import get_broker
from django_q.conf import Conf

from accounts.models import Fan
from consent.models import ConsentRecord
from messaging.conversations.inbound import inbound_backlog
from messaging.conversations.lane import priority_lane_run
from messaging.conversations.priority import priority_message_queue, priority_send_batch
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import INBOUND_PATH, post_inbound, sign, text_in, twilio_inbound_payload
from tests.factories import create_talent

pytestmark = pytest.mark.django_db
Lane = OutboundMessage.Lane


@pytest.fixture
def queued(monkeypatch):
    """Tasks go to the broker instead of running inline; yields the priority broker."""
    monkeypatch.setattr(Conf, "SYNC", False)
    broker = get_broker(settings.Q_PRIORITY_CLUSTER)
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def _lane():
    with TestCase.captureOnCommitCallbacks(execute=True):
        return priority_lane_run(budget_seconds=30, linger_seconds=0)


def test_a_strangers_text_is_stored_and_answered_without_rules_in_the_request(client, personas, queued, sms_outbox):
    response = text_in(client, personas.talent, "omg is this really you??", "+14155550200")
    assert response.status_code == 200
    message = InboundMessage.objects.get()
    assert message.processed_at is None and message.action == ""  # the rules did not run in the request
    assert not Fan.objects.filter(phone="+14155550200").exists()
    assert OutboundMessage.objects.count() == 0
    assert inbound_backlog()["count"] == 1
    assert _lane()["processed"] == 1
    message.refresh_from_db()
    assert message.action == InboundMessage.Action.JOIN_LINK and message.processed_at
    assert not message.needs_reply  # a stranger's "omg is this you" never lands in the team's inbox
    (link,) = sms_outbox
    assert "/join/" in link.body and link.to == "+14155550200"
    assert OutboundMessage.objects.get().lane == Lane.LINK


def test_a_burst_enqueues_one_lane_task_not_one_per_text(client, personas, queued, sms_outbox):
    start = time.monotonic()
    for n in range(30):
        text_in(client, personas.talent, "hi", f"+1415555{n:04d}")
    elapsed = time.monotonic() - start
    # At most one enqueue a second (a slow machine may span two seconds), never one per text.
    assert 1 <= queued.queue_size() <= 1 + int(elapsed)
    assert _lane()["processed"] == 30
    assert len(sms_outbox) == 30
    assert OutboundMessage.objects.filter(status="queued", lane=Lane.LINK).count() == 30


def test_one_link_per_number_however_often_it_texts(client, personas, queued, sms_outbox):
    for body in ["hi", "hello??", "is this you", "HI"]:
        text_in(client, personas.talent, body, "+14155550201")
    _lane()
    assert [m.to for m in sms_outbox] == ["+14155550201"]
    actions = sorted(InboundMessage.objects.values_list("action", flat=True))
    assert actions == ["join_link", "join_link_skipped", "join_link_skipped", "join_link_skipped"]


def test_a_stop_takes_effect_before_the_answer_even_when_the_lane_is_behind(client, personas, queued, sms_outbox):
    fan = personas.fan
    text_in(client, personas.talent, "hello", "+14155550202")  # waiting for the rule processor
    response = text_in(client, personas.talent, "STOP", str(fan.phone))
    assert response.status_code == 200
    fan.refresh_from_db()
    assert fan.status == Fan.Status.OPTED_OUT  # before any lane task ran
    assert ConsentRecord.objects.filter(fan=fan, action="withdrawn").count() == 1
    stop = InboundMessage.objects.get(body="STOP")
    assert stop.processed_at is not None and stop.action == InboundMessage.Action.OPT_OUT
    confirmation = OutboundMessage.objects.get(fan=fan)
    assert confirmation.lane == Lane.COMPLIANCE and confirmation.status == "pending"
    _lane()
    assert {m.to for m in sms_outbox} == {str(fan.phone), "+14155550202"}


@pytest.mark.parametrize("body", ["STOP\x00", "\x00stop", "St\x00OP"])
def test_nul_bytes_never_hide_a_stop(client, personas, queued, body):
    assert text_in(client, personas.talent, body, str(personas.fan.phone)).status_code == 200
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert "\x00" not in InboundMessage.objects.get().body


def test_nul_bytes_in_every_field_are_cleaned_not_a_500(client, personas, queued):
    payload = twilio_inbound_payload(talent=personas.talent, body="hey\x00", from_="+14155550203")
    payload["FromCity"] = "SAN\x00FRANCISCO"
    payload["Extra\x00Field"] = "x\x00"
    assert post_inbound(client, payload).status_code == 200
    stored = InboundMessage.objects.get()
    assert stored.body == "hey" and stored.payload["FromCity"] == "SANFRANCISCO"
    assert all("\x00" not in str(v) for v in stored.payload.values())


def test_a_100_kb_body_is_stored_cut_to_what_a_phone_can_send(client, personas, queued):
    assert text_in(client, personas.talent, "A" * 100_000, "+14155550204").status_code == 200
    stored = InboundMessage.objects.get()
    assert len(stored.body) == 1600 and len(stored.payload["Body"]) == 1600


def test_invalid_utf8_is_a_4xx_or_a_cleaned_message_never_a_500(client, personas, queued):
    payload = twilio_inbound_payload(talent=personas.talent, body="x", from_="+14155550205")
    signature = sign(payload)
    raw = "&".join(f"{k}={v}" for k, v in payload.items() if k != "Body").encode() + b"&Body=caf%C3%28%FF"
    response = client.generic(
        "POST",
        INBOUND_PATH,
        raw,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code in (200, 403)


@pytest.mark.parametrize("sender", ["not-a-number", "own"])
def test_a_sender_that_is_no_number_or_the_talents_own_is_stored_and_answered_with_nothing(
    client, personas, queued, sms_outbox, sender
):
    sender = str(personas.talent.sender_number) if sender == "own" else sender
    assert text_in(client, personas.talent, "JOIN", sender).status_code == 200
    _lane()
    message = InboundMessage.objects.get()
    assert message.action == InboundMessage.Action.IGNORED
    assert sms_outbox == [] and OutboundMessage.objects.count() == 0
    assert not Fan.objects.filter(phone=sender).exists()


def test_a_status_callback_whose_hint_is_a_non_ascii_digit_is_not_a_500(client, personas):
    path = "/webhooks/twilio/status/?m=%C2%B2"  # "²": str.isdigit() says yes, int() says no
    payload = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": settings.TWILIO_ACCOUNT_SID}
    signature = sign(payload, path=path)
    response = client.post(path, payload, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200


def test_compliance_texts_leave_first_and_are_never_held_by_the_senders_pace(personas, sms_outbox, monkeypatch):
    from messaging.conversations import priority

    monkeypatch.setattr(priority, "_BATCH_SECONDS", 6.0)  # (20 s by default: 20 s of sleeping here)
    talent = create_talent(slug="slow", parts_per_second=1)  # a long code: 1 part a second
    with TestCase.captureOnCommitCallbacks(execute=False):
        for n in range(10):
            priority_message_queue(talent=talent, to=f"+1415556{n:04d}", body="join us", lane=Lane.LINK)
        stop = priority_message_queue(talent=talent, to="+14155569999", body="You are unsubscribed.", lane=0)
    with transaction.atomic():
        claimed = priority_send_batch()
    # The batch holds 6 s of the sender's time (6 parts); the compliance text goes first, whatever the budget.
    assert claimed == 6
    assert sms_outbox[0].to == stop.to_number
    assert OutboundMessage.objects.filter(status="pending", lane=Lane.LINK).count() == 5


def test_system_texts_ask_for_status_callbacks(personas, sms_outbox):
    with TestCase.captureOnCommitCallbacks(execute=True):
        message = priority_message_queue(talent=personas.talent, to="+14155550206", body="code 123456")
    (sent,) = sms_outbox
    assert sent.status_callback.endswith(f"/webhooks/twilio/status/?m={message.pk}")


def test_a_stop_cancels_the_join_link_still_waiting_and_a_claimed_one_never_leaves(
    client, personas, queued, sms_outbox
):
    number = "+14155550207"
    text_in(client, personas.talent, "omg hi", number)
    _lane()  # the link is sent; a second text then asks again later ...
    fan = Fan.objects.get(phone=number)
    sms_outbox.clear()
    late = priority_message_queue(talent=personas.talent, fan=fan, to=number, body="join link again", lane=Lane.LINK)
    text_in(client, personas.talent, "STOP", number)
    late.refresh_from_db()
    assert late.status == "suppressed"  # cancelled by the STOP itself, before any lane task ran
    claimed_later = OutboundMessage.objects.create(
        talent=personas.talent, fan=fan, kind="system", lane=Lane.LINK, to_number=number, body="claimed link"
    )
    _lane()
    claimed_later.refresh_from_db()
    assert claimed_later.status == "suppressed"  # the claim re-checks: only the confirmation leaves
    assert [m.body for m in sms_outbox] == [OutboundMessage.objects.get(fan=fan, lane=0).body]


def test_lane_texts_are_paced_and_costed_in_sms_parts(personas):
    with TestCase.captureOnCommitCallbacks(execute=False):
        long = priority_message_queue(talent=personas.talent, to="+14155550208", body="x" * 200)
        uni = priority_message_queue(talent=personas.talent, to="+14155550209", body="hi 🎉")
    assert (long.parts, uni.parts) == (2, 1)
