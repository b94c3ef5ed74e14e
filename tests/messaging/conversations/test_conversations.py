"""Conversations: real replies open (and reopen) one; keywords, join texts and strangers never do;
the team answers on the priority lane, with the trust rules of who may be answered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps as django_apps
from django.test import TestCase
from django.utils import timezone

from accounts.models import Fan
from messaging.conversations import services
from messaging.conversations.inbound import inbound_process_batch, inbound_store
from messaging.conversations.models import Conversation, ConversationEvent, Episode, Note
from messaging.models import InboundMessage, OutboundMessage
from messaging.privacy.services import fan_erase
from tests.accounts.join_support import message_sid, text_in
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign, create_campaign_text

pytestmark = pytest.mark.django_db

Status = Conversation.Status


def _conversation(fan) -> Conversation:
    return Conversation.objects.get(fan=fan)


def _reply(conversation, user, body="Thanks!", **kwargs):
    conversation.refresh_from_db()
    kwargs.setdefault("seen_reply_id", conversation.last_reply_id)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.conversation_reply(conversation=conversation, user=user, body=body, **kwargs)


def test_a_real_reply_opens_one_conversation_and_more_texts_join_its_episode(client, personas):
    fan = personas.fan
    text_in(client, personas.talent, "When is the next show?", str(fan.phone))
    text_in(client, personas.talent, "And merch?", str(fan.phone))
    conversation = _conversation(fan)
    assert conversation.status == Status.OPEN and conversation.unread_team
    assert conversation.waiting_since is not None and conversation.talent == personas.talent
    episode = Episode.objects.get()
    assert episode.replies == 2 and episode.outcome == Episode.Outcome.WAITING
    assert conversation.last_inbound_id == InboundMessage.objects.order_by("-id").first().pk


@pytest.mark.parametrize("body", ["STOP", "help", "INFO", "MYDATA", "START", "Stop please"])
def test_keyword_texts_open_nothing(client, personas, body):
    text_in(client, personas.talent, body, str(personas.fan.phone))
    assert not Conversation.objects.exists() and not Episode.objects.exists()


def test_strangers_and_join_texts_open_nothing(client, personas):
    for n in range(5):  # a burst of strangers must not flood the inbox
        text_in(client, personas.talent, "I want to join!", f"+1415555{7000 + n}")
    pending = create_fan(personas.talent, "+14155550177", status=Fan.Status.PENDING)
    text_in(client, personas.talent, "hello?", str(pending.phone))
    assert not Conversation.objects.exists()
    assert InboundMessage.objects.filter(action="join_link").count() == 6  # each got a signup link instead


def test_an_opted_out_fans_text_opens_nothing(client, personas):
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.OPTED_OUT)
    text_in(client, personas.talent, "hey", str(personas.fan.phone))
    assert not Conversation.objects.exists()


def test_the_bulk_rule_path_opens_conversations_too(personas):
    fans = [create_fan(personas.talent) for _ in range(3)]
    for fan in fans:
        for body in ("hi", "still there?"):
            inbound_store(
                talent=personas.talent, sid=message_sid(), from_number=str(fan.phone), body=body, payload={"To": "x"}
            )
    inbound_store(talent=personas.talent, sid=message_sid(), from_number="+14155557999", body="join", payload={})
    assert inbound_process_batch() == 7
    assert Conversation.objects.count() == 3
    assert sorted(Episode.objects.values_list("replies", flat=True)) == [2, 2, 2]


def test_answering_closes_the_episode_assigns_and_waits_on_the_fan(client, personas, sms_outbox):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    message = _reply(conversation, personas.agent, "Hello Fiona!")
    assert message.kind == OutboundMessage.Kind.REPLY and message.lane == OutboundMessage.Lane.PERSONAL
    assert sms_outbox[-1].body == "Hello Fiona!" and sms_outbox[-1].to == str(personas.fan.phone)
    conversation.refresh_from_db()
    assert conversation.status == Status.PENDING and conversation.assignee == personas.agent
    assert conversation.waiting_since is None and conversation.last_reply_id == message.pk
    episode = Episode.objects.get()
    assert episode.outcome == Episode.Outcome.ANSWERED and episode.answered_by == personas.agent
    assert not InboundMessage.objects.filter(needs_reply=True).exists()

    # The fan writes again: the conversation is the team's turn again, a new episode.
    text_in(client, personas.talent, "thanks! one more thing", str(personas.fan.phone))
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN and conversation.unread_assignee
    assert Episode.objects.count() == 2


def test_done_without_reply_is_not_answered_and_the_next_text_reopens(client, personas):
    text_in(client, personas.talent, "lol", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    services.conversation_done(conversation=conversation, user=personas.agent)
    conversation.refresh_from_db()
    assert conversation.status == Status.DONE
    assert Episode.objects.get().outcome == Episode.Outcome.DONE_WITHOUT_REPLY
    assert Episode.objects.get().answered_by is None
    text_in(client, personas.talent, "wait, a question", str(personas.fan.phone))
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN and conversation.unread_team
    assert ConversationEvent.objects.filter(kind="opened").exists()


def test_a_keyword_does_not_reopen_a_done_conversation(client, personas):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    services.conversation_done(conversation=conversation, user=personas.agent)
    text_in(client, personas.talent, "HELP", str(personas.fan.phone))
    conversation.refresh_from_db()
    assert conversation.status == Status.DONE and Episode.objects.count() == 1


def test_who_may_be_answered(client, personas, sms_outbox):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.OPTED_OUT)
    with pytest.raises(services.ConversationError, match="texted STOP"):
        _reply(conversation, personas.agent)
    # A pending fan: within 24 hours of their own text only.
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.PENDING)
    _reply(conversation, personas.agent, "Welcome! Finish joining with the link.")
    InboundMessage.objects.update(received_at=timezone.now() - dt.timedelta(hours=25))
    with pytest.raises(services.ConversationError, match="within 24 hours"):
        _reply(conversation, personas.agent)
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.ACTIVE)
    fan_erase(fan=personas.fan)
    assert not Conversation.objects.exists()  # erasure took it


def test_erased_fans_cannot_be_answered():
    fan = Fan(status=Fan.Status.ERASED, phone=None)
    assert "forgotten" in services.answer_refusal(fan=fan)


def test_placeholders_are_filled_or_must_be_written_in(client, personas):
    filled = services.fill_placeholders("Hi {first_name} from {city}!", fan=personas.fan)
    assert filled.text == "Hi Fiona from {city}!" and filled.missing == ["city"]
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    with pytest.raises(services.ConversationError, match=r"Fill in \{city\}"):
        _reply(conversation, personas.agent, filled.text)
    assert not OutboundMessage.objects.filter(kind="reply").exists()


@pytest.mark.parametrize("body", ["", "   ", "x" * 1601])
def test_empty_and_too_long_replies_are_refused(client, personas, body):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    with pytest.raises(services.ConversationError):
        _reply(_conversation(personas.fan), personas.agent, body)


def test_emoji_rtl_and_1600_characters_go_through(client, personas, sms_outbox):
    text_in(client, personas.talent, "مرحبا 👋" + "x" * 1590, str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    message = _reply(conversation, personas.agent, "שלום 🎉 " + "y" * 1500)
    assert message.parts > 1 and sms_outbox[-1].body.startswith("שלום 🎉")


def test_a_reply_warns_when_someone_answered_meanwhile(client, personas, sms_outbox):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    seen = conversation.last_reply_id  # both members loaded the page now
    _reply(conversation, personas.manager, "Hi from Max", seen_reply_id=seen)
    with pytest.raises(services.AnsweredMeanwhile, match="max_manager answered"):
        _reply(conversation, personas.agent, "Hi from Ada", seen_reply_id=seen)
    assert [m.body for m in sms_outbox] == ["Hi from Max"]
    _reply(conversation, personas.agent, "Hi from Ada", seen_reply_id=seen, send_anyway=True)
    assert [m.body for m in sms_outbox] == ["Hi from Max", "Hi from Ada"]


def test_snooze_wakes_at_its_time_or_on_the_fans_text(client, personas):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    with pytest.raises(services.ConversationError):
        services.conversation_snooze(conversation=conversation, user=personas.agent, until=timezone.now())
    services.conversation_snooze(
        conversation=conversation, user=personas.agent, until=timezone.now() + dt.timedelta(hours=1)
    )
    assert _conversation(personas.fan).status == Status.SNOOZED
    assert services.wake_snoozed(talent_id=personas.talent.pk) == 0
    assert services.wake_snoozed(talent_id=personas.talent.pk, now=timezone.now() + dt.timedelta(hours=2)) == 1
    assert _conversation(personas.fan).status == Status.OPEN
    services.conversation_snooze(
        conversation=conversation, user=personas.agent, until=timezone.now() + dt.timedelta(hours=1)
    )
    text_in(client, personas.talent, "hello??", str(personas.fan.phone))
    assert _conversation(personas.fan).status == Status.OPEN


def test_blocked_as_spam_stays_done(client, personas):
    text_in(client, personas.talent, "buy cheap followers", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    services.conversation_block_spam(conversation=conversation, user=personas.agent)
    text_in(client, personas.talent, "buy more", str(personas.fan.phone))
    conversation.refresh_from_db()
    assert conversation.status == Status.DONE and conversation.blocked and Episode.objects.count() == 1


def test_assignment_only_to_members_who_may_reply(client, personas):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    for nobody in (personas.analyst, personas.other_manager, personas.outsider):
        with pytest.raises(services.ConversationError, match="may not answer"):
            services.conversation_assign(conversation=conversation, user=personas.manager, assignee=nobody)
    services.conversation_assign(conversation=conversation, user=personas.manager, assignee=personas.agent)
    conversation.refresh_from_db()
    assert conversation.assignee == personas.agent and conversation.unread_assignee
    services.conversation_seen(conversation=conversation, user=personas.manager)
    conversation.refresh_from_db()
    assert not conversation.unread_team and conversation.unread_assignee  # Ada's own mark stays
    services.conversation_seen(conversation=conversation, user=personas.agent)
    conversation.refresh_from_db()
    assert not conversation.unread_assignee


def test_notes_and_events_are_in_the_thread_and_erased_with_the_fan(client, personas):
    text_in(client, personas.talent, "my order never came", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    services.conversation_note(conversation=conversation, user=personas.agent, body="Checked: shipped Monday")
    services.conversation_assign(conversation=conversation, user=personas.agent, assignee=personas.manager)
    kinds = [item.kind for item in services.thread(conversation)]
    assert kinds == ["in", "note", "event"]
    assert "Private note (ada_agent): Checked: shipped Monday" in services.transcript(conversation)
    with pytest.raises(services.ConversationError):
        services.conversation_note(conversation=conversation, user=personas.agent, body="  ")
    fan_erase(fan=personas.fan)
    assert not Note.objects.exists() and not ConversationEvent.objects.exists()
    assert not Conversation.objects.exists()
    assert Episode.objects.count() == 1  # timings only, for the figures


def test_the_campaign_answered_is_remembered(client, personas):
    campaign = create_campaign(personas.talent)
    create_campaign_text(campaign, personas.fan, body="New single out!")
    text_in(client, personas.talent, "love it", str(personas.fan.phone))
    assert _conversation(personas.fan).campaign == campaign
    assert Episode.objects.get().campaign == campaign


def test_presence_shows_the_others(client, personas):
    text_in(client, personas.talent, "hi", str(personas.fan.phone))
    conversation = _conversation(personas.fan)
    assert services.presence_beat(conversation=conversation, user=personas.agent) == []
    others = services.presence_beat(conversation=conversation, user=personas.manager, typing=True)
    assert others == [{"name": "ada_agent", "typing": False}]
    assert services.presence_beat(conversation=conversation, user=personas.agent) == [
        {"name": "max_manager", "typing": True}
    ]


def test_the_old_inbox_becomes_conversations(personas):
    """The migration's data step, run on today's models."""
    from importlib import import_module

    step = import_module("messaging.migrations.0009_conversations").inbox_to_conversations
    other = create_fan(personas.talent)
    for fan, needs in ((personas.fan, True), (other, False)):
        InboundMessage.objects.create(
            talent=personas.talent,
            fan=fan,
            message_sid=message_sid(),
            from_number=str(fan.phone),
            body="old text",
            action="inbox",
            needs_reply=needs,
        )
    InboundMessage.objects.create(
        talent=personas.talent,
        fan=personas.fan,
        message_sid=message_sid(),
        from_number="x",
        body="STOP",
        action="opt_out",
    )
    step(django_apps, None)
    waiting, answered = _conversation(personas.fan), _conversation(other)
    assert waiting.status == Status.OPEN and waiting.waiting_since and waiting.episode_id
    assert answered.status == Status.DONE and answered.waiting_since is None
    step(django_apps, None)  # running it twice changes nothing
    assert Conversation.objects.count() == 2 and Episode.objects.count() == 1
