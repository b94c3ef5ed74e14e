"""Send later (issue 13 §3, issue 9 step B): a reply at a chosen time in the talent's zone, moved out
of the fan's quiet hours, held by `not_before` on the one priority-lane row (no side path), shown
in the thread as scheduled, cancellable until it leaves."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import Fan
from messaging.conversations import services
from messaging.conversations.lane import priority_lane_pending
from messaging.conversations.models import Conversation, Episode
from messaging.conversations.priority import priority_send_batch
from messaging.models import OutboundMessage
from tests.accounts.join_support import text_in

pytestmark = pytest.mark.django_db

UTC = dt.UTC
S = OutboundMessage.Status
ZONE = "America/Bogota"


@pytest.fixture
def conversation(client, personas) -> Conversation:
    # Bogota: UTC-5 all year (no daylight saving), so the expected instants hold in any season.
    personas.talent.default_time_zone = ZONE
    personas.talent.save()
    Fan.objects.filter(pk=personas.fan.pk).update(time_zone=ZONE)
    text_in(client, personas.talent, "Can you tell me tomorrow?", str(personas.fan.phone))
    return Conversation.objects.get(fan=personas.fan)


def _schedule(conversation, user, at, body="Here it is!"):
    with TestCase.captureOnCommitCallbacks(execute=True):  # the lane runs inline: it must hold the row
        return services.conversation_reply(
            conversation=conversation, user=user, body=body, seen_reply_id=None, send_at=at
        )


def _noon_tomorrow() -> dt.datetime:
    tomorrow = timezone.now().astimezone(dt.timezone(dt.timedelta(hours=-5))).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(17, 0), tzinfo=UTC)  # 12:00 in Bogota


def test_a_scheduled_reply_waits_for_its_time_on_the_priority_lane(conversation, personas, sms_outbox):
    at = _noon_tomorrow()
    message = _schedule(conversation, personas.agent, at)
    message.refresh_from_db()
    assert (message.status, message.not_before, message.kind) == (S.PENDING, at, "reply")
    assert sms_outbox == [] and not priority_lane_pending()  # the sweeper does not see it as due
    assert priority_send_batch() == 0
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING and conversation.waiting_since is None
    episode = Episode.objects.get()
    assert episode.outcome == "answered" and episode.closed_at == at  # the fan's wait ends when it leaves
    items = [i for i in services.thread(conversation) if i.kind == "out"]
    assert items[-1].scheduled_for == at
    with mock.patch("django.utils.timezone.now", return_value=at + dt.timedelta(seconds=1)):
        assert priority_lane_pending()
        assert priority_send_batch() == 1
    message.refresh_from_db()
    assert message.status == S.QUEUED and [m.body for m in sms_outbox] == ["Here it is!"]


def test_a_time_in_the_fans_quiet_hours_moves_to_their_end(conversation, personas):
    day = timezone.now().date() + dt.timedelta(days=2)
    late = dt.datetime.combine(day, dt.time(4, 0), tzinfo=UTC)  # 23:00 in Bogota, inside 21:00-08:00
    message = _schedule(conversation, personas.agent, late)
    assert message.not_before == dt.datetime.combine(day, dt.time(13, 0), tzinfo=UTC)  # 08:00 in Bogota


def test_cancel_before_it_leaves_reopens_the_wait(conversation, personas, sms_outbox):
    message = _schedule(conversation, personas.agent, _noon_tomorrow())
    services.conversation_cancel_scheduled(conversation=conversation, user=personas.agent, message_id=message.pk)
    message.refresh_from_db()
    assert message.status == S.CANCELLED
    conversation.refresh_from_db()
    episode = Episode.objects.get()
    assert conversation.status == Conversation.Status.OPEN and conversation.waiting_since == episode.opened_at
    assert episode.outcome == "waiting" and episode.closed_at is None
    assert conversation.last_reply_id is None
    with mock.patch("django.utils.timezone.now", return_value=_noon_tomorrow() + dt.timedelta(minutes=1)):
        assert priority_send_batch() == 0
    assert sms_outbox == []
    with pytest.raises(services.ConversationError, match="no longer scheduled"):
        services.conversation_cancel_scheduled(conversation=conversation, user=personas.agent, message_id=message.pk)


def test_a_reply_that_already_left_cannot_be_cancelled(conversation, personas):
    sent = services.conversation_reply(conversation=conversation, user=personas.agent, body="Now", seen_reply_id=None)
    with pytest.raises(services.ConversationError, match="no longer scheduled"):
        services.conversation_cancel_scheduled(conversation=conversation, user=personas.agent, message_id=sent.pk)
    assert OutboundMessage.objects.get(pk=sent.pk).status != S.CANCELLED


def test_a_stop_before_the_time_suppresses_it(client, conversation, personas, sms_outbox):
    message = _schedule(conversation, personas.agent, _noon_tomorrow())
    text_in(client, personas.talent, "STOP", str(personas.fan.phone))
    message.refresh_from_db()
    assert message.status == S.SUPPRESSED
    assert all(m.body != "Here it is!" for m in sms_outbox)


@pytest.mark.parametrize(
    ("delta", "error"),
    [(dt.timedelta(seconds=-5), "at least a minute from now"), (dt.timedelta(days=31), "at most 30 days")],
)
def test_bad_times_are_refused(conversation, personas, delta, error):
    with pytest.raises(services.ConversationError, match=error):
        services.conversation_reply(
            conversation=conversation,
            user=personas.agent,
            body="x",
            seen_reply_id=None,
            send_at=timezone.now() + delta,
        )
    assert not OutboundMessage.objects.filter(kind="reply").exists()


def test_the_page_schedules_in_the_talents_zone_shows_it_and_cancels(client, conversation, personas):
    client.force_login(personas.agent)
    page = reverse("admin:messaging_conversation_change", args=[conversation.pk])
    day = timezone.now().date() + dt.timedelta(days=3)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            page, {"action": "reply_later", "body": "See you there", "send_at": f"{day:%Y-%m-%d}T10:00"}
        )
    assert response.status_code == 302
    message = OutboundMessage.objects.get(kind="reply")
    assert message.not_before == dt.datetime.combine(day, dt.time(15, 0), tzinfo=UTC)  # 10:00 in Bogota
    html = client.get(page).content.decode()
    assert "Scheduled for" in html and f"{day:%b} {day.day}, 10:00 -05" in html  # shown in the talent's zone
    assert "Cancel this scheduled reply" in html
    response = client.post(page, {"action": "cancel_scheduled", "message_id": str(message.pk)})
    assert response.status_code == 302
    assert OutboundMessage.objects.get(pk=message.pk).status == S.CANCELLED
    # Bad input: a clear message, never a 500.
    assert client.post(page, {"action": "reply_later", "body": "x"}).status_code == 400
    response = client.post(page, {"action": "reply_later", "body": "x", "send_at": "2001-01-01T10:00"})
    assert response.status_code == 400 and "at least a minute from now" in response.content.decode()
    assert client.post(page, {"action": "cancel_scheduled", "message_id": "abc"}).status_code == 400


def test_another_fans_scheduled_reply_cannot_be_cancelled_from_here(client, conversation, personas):
    other = Conversation.objects.create(talent=personas.talent, fan=personas.other_fan)  # not even Nova's fan
    message = _schedule(conversation, personas.agent, _noon_tomorrow())
    with pytest.raises(services.ConversationError):
        services.conversation_cancel_scheduled(conversation=other, user=personas.agent, message_id=message.pk)
    assert OutboundMessage.objects.get(pk=message.pk).status == S.PENDING
