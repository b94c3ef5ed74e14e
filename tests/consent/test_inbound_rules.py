"""The one order of rules, as the webhook and the rule processor apply it (issue 15, section 2)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import TestCase
from django.utils import timezone

from accounts.models import Fan
from consent import texts
from consent.models import ConsentRecord
from messaging.conversations import priority
from messaging.conversations.inbound import inbound_receive
from messaging.models import InboundMessage, OutboundMessage
from messaging.sending.engine import campaign_materialise
from tests.accounts.join_support import message_sid, text_in
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import ScriptedBackend, create_campaign

pytestmark = pytest.mark.django_db
STRANGER = "+14155552671"


def _actions(phone: str) -> list[str]:
    return list(InboundMessage.objects.filter(from_number=phone).order_by("id").values_list("action", flat=True))


@pytest.mark.parametrize("keyword", ["START", "YES", "unstop"])
def test_hi_then_start_from_a_new_number_gets_the_signup_link_not_an_active_fan(client, personas, sms_outbox, keyword):
    text_in(client, personas.talent, "hi", STRANGER)
    text_in(client, personas.talent, keyword, STRANGER)
    fan = Fan.objects.get(talent=personas.talent, phone=STRANGER)
    assert fan.status == Fan.Status.PENDING and fan.birth_date is None
    assert not ConsentRecord.objects.filter(fan=fan).exists()  # no record for terms never shown
    assert _actions(STRANGER) == ["join_link", "join_link_skipped"]
    assert len(sms_outbox) == 1 and "/join/nova/?t=" in sms_outbox[0].body


def test_start_alone_from_a_new_number_gets_the_signup_link(client, personas, sms_outbox):
    text_in(client, personas.talent, "START", STRANGER)
    assert Fan.objects.get(phone=STRANGER).status == Fan.Status.PENDING
    assert [m.body.split(":")[1].strip()[:6] for m in sms_outbox] == ["Thanks"]


def test_a_number_that_stopped_before_joining_gets_the_link_when_it_texts_start(client, personas, sms_outbox):
    text_in(client, personas.talent, "STOP", STRANGER)
    text_in(client, personas.talent, "hello?", STRANGER)  # after STOP: nothing
    text_in(client, personas.talent, "START", STRANGER)
    fan = Fan.objects.get(phone=STRANGER)
    assert fan.status == Fan.Status.PENDING  # asked for the link; joins only through the form
    assert list(ConsentRecord.objects.filter(fan=fan).values_list("action", flat=True)) == ["withdrawn"]
    assert _actions(STRANGER) == ["opt_out", "ignored", "join_link"]
    assert len(sms_outbox) == 2 and "/join/nova/?t=" in sms_outbox[1].body  # not suppressed


def test_a_member_who_stopped_comes_back_with_start(client, personas, sms_outbox):
    phone = str(personas.fan.phone)
    text_in(client, personas.talent, "stop texting me", phone)
    text_in(client, personas.talent, "START", phone)
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.ACTIVE


def test_a_spanish_opt_out_is_confirmed_in_spanish(client, personas, sms_outbox):
    text_in(client, personas.talent, "No me envíes más mensajes 🙏", str(personas.fan.phone))
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert [m.body for m in sms_outbox] == [texts.opt_out_confirmation(personas.talent, "es")]
    assert "Te has dado de baja" in sms_outbox[0].body


def test_a_sentence_opt_out_is_applied_in_the_request(client, personas, sms_outbox, django_capture_on_commit_callbacks):
    # The webhook applies it before answering (no rule processor run needed).
    from tests.accounts.join_support import post_inbound, twilio_inbound_payload

    payload = twilio_inbound_payload(
        talent=personas.talent, body="Please stop texting me!!", from_=str(personas.fan.phone)
    )
    post_inbound(client, payload)
    message = InboundMessage.objects.get()
    assert message.action == "opt_out" and message.processed_at is not None


def test_a_second_stop_gets_no_second_confirmation(client, personas, sms_outbox):
    phone = str(personas.fan.phone)
    text_in(client, personas.talent, "STOP", phone)
    text_in(client, personas.talent, "stop!!", phone)
    assert len(sms_outbox) == 1


def test_never_an_opt_out_for_a_fan_who_says_the_words_otherwise(client, personas, sms_outbox):
    text_in(client, personas.talent, "I'll never stop being a fan", str(personas.fan.phone))
    text_in(client, personas.talent, "the end of the video made me cry", str(personas.fan.phone))
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.ACTIVE
    assert _actions(str(personas.fan.phone)) == ["inbox", "inbox"]


def test_a_possible_opt_out_is_held_from_campaigns_and_shown_to_the_team(client, personas, sms_outbox):
    keeper = create_fan(personas.talent)
    text_in(client, personas.talent, "wrong number", str(personas.fan.phone))
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.HELD
    message = InboundMessage.objects.get(from_number=str(personas.fan.phone))
    assert message.action == "possible_opt_out" and message.needs_reply  # in the inbox, to decide
    assert sms_outbox == []  # no automation, no reply
    assert not ConsentRecord.objects.filter(fan=personas.fan).exists()  # not a consent change
    # Held from campaigns: the materialised audience leaves the fan out.
    campaign = create_campaign(personas.talent)
    campaign.status = campaign.Status.SENDING
    campaign.save()
    campaign_materialise(campaign=campaign)
    recipients = set(OutboundMessage.objects.filter(campaign=campaign).values_list("fan_id", flat=True))
    assert keeper.pk in recipients and personas.fan.pk not in recipients


def test_a_held_fan_released_by_the_team_or_by_start_gets_campaigns_again(client, personas, sms_outbox):
    from consent.services import fan_hold_release

    phone = str(personas.fan.phone)
    text_in(client, personas.talent, "who is this?", phone)
    personas.fan.refresh_from_db()
    assert fan_hold_release(fan=personas.fan, actor=personas.manager)
    assert Fan.objects.get(pk=personas.fan.pk).status == Fan.Status.ACTIVE
    text_in(client, personas.talent, "too many texts lately", phone)
    text_in(client, personas.talent, "START", phone)
    assert Fan.objects.get(pk=personas.fan.pk).status == Fan.Status.ACTIVE
    text_in(client, personas.talent, "too many texts lately", phone)
    text_in(client, personas.talent, "STOP", phone)
    assert Fan.objects.get(pk=personas.fan.pk).status == Fan.Status.OPTED_OUT


def test_a_strangers_possible_opt_out_gets_no_signup_link(client, personas, sms_outbox):
    text_in(client, personas.talent, "wrong number", STRANGER)
    assert sms_outbox == []
    assert _actions(STRANGER) == ["ignored"]


def test_the_confirmation_leaves_within_five_minutes_behind_a_burst_and_carries_no_marketing(personas, monkeypatch):
    talent = personas.talent
    talent.parts_per_second = 1  # a long code: 400 join links take 400 s, more than 5 minutes
    talent.welcome_text = "New single out Friday! Presave: https://nova.example.com/presave"
    talent.help_text = "Tickets at https://nova.example.com/tour"
    talent.save()
    monkeypatch.setattr(priority, "_BATCH_SECONDS", 0.01)  # one link per batch: keeps the test fast
    strangers = [create_fan(talent, f"+1212555{n:04d}", status=Fan.Status.PENDING, joined_at=None) for n in range(400)]
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            talent=talent,
            fan=f,
            kind=OutboundMessage.Kind.SYSTEM,
            lane=OutboundMessage.Lane.LINK,
            to_number=str(f.phone),
            body="join link",
        )
        for f in strangers
    )
    with TestCase.captureOnCommitCallbacks(execute=False):  # no inline lane run: we drive it
        inbound_receive(talent=talent, sid=message_sid(), from_number=str(personas.fan.phone), body="STOP", payload={})
    received = InboundMessage.objects.get(from_number=str(personas.fan.phone)).received_at
    backend = ScriptedBackend()
    priority.priority_send_batch(backend=backend)  # the lane's next batch, whatever waits before it
    confirmation = OutboundMessage.objects.get(fan=personas.fan)
    assert confirmation.status == OutboundMessage.Status.QUEUED
    assert confirmation.sent_at - received < dt.timedelta(minutes=5)
    assert [m.to for m in backend.sent][0] == str(personas.fan.phone)
    body = backend.sent[0].body
    assert body == texts.opt_out_confirmation(talent)
    assert "http" not in body and "Presave" not in body and "Tickets" not in body
    assert OutboundMessage.objects.filter(status="pending").count() >= 398  # the burst waits, not the STOP
    assert timezone.now() - received < dt.timedelta(minutes=5)


@pytest.mark.parametrize(("action", "status"), [("release_hold", "active"), ("opt_out_held", "opted_out")])
def test_the_team_decides_a_possible_opt_out_from_the_fan_list(client, personas, sms_outbox, action, status):
    phone = str(personas.fan.phone)
    text_in(client, personas.talent, "wrong number", phone)
    client.force_login(personas.other_manager)  # another talent's member: not theirs to decide
    client.post("/admin/accounts/fan/", {"action": action, "_selected_action": [personas.fan.pk]})
    assert Fan.objects.get(pk=personas.fan.pk).status == Fan.Status.HELD
    client.force_login(personas.agent)  # the inbox's people decide (reply capability)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post("/admin/accounts/fan/", {"action": action, "_selected_action": [personas.fan.pk]})
    assert Fan.objects.get(pk=personas.fan.pk).status == status
    if status == "opted_out":
        assert [m.body for m in sms_outbox] == [texts.opt_out_confirmation(personas.talent)]
        assert ConsentRecord.objects.get(fan=personas.fan).method == "console"
    else:
        assert sms_outbox == [] and not ConsentRecord.objects.filter(fan=personas.fan).exists()
