"""Real replies handled at the same moment (two rule processors, a burst): the round-robin cap and
the one-acknowledgement rule still hold. Needs PostgreSQL row locks (no-ops on SQLite)."""

from __future__ import annotations

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import connection, connections
from django.utils import timezone

from messaging.conversations import assignment, services
from messaging.conversations.models import Conversation
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import message_sid
from tests.factories import create_fan, create_member, create_talent

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


def _inbound(talent, fan, body="hi"):
    return InboundMessage.objects.create(
        talent=talent,
        fan=fan,
        message_sid=message_sid(),
        from_number=str(fan.phone),
        to_number=str(talent.sender_number),
        body=body,
        action="inbox",
        received_at=timezone.now(),
        processed_at=timezone.now(),
    )


def _at_once(messages):
    barrier = threading.Barrier(len(messages))
    errors = []

    def handle(message):
        try:
            barrier.wait(timeout=10)
            services.on_real_reply(message)
        except Exception as exc:  # collected: an exception in a thread would otherwise vanish
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=handle, args=(m,)) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors


def test_the_cap_holds_when_texts_arrive_at_once():
    talent = create_talent("rr-race")
    agent = create_member(talent, "agent").user
    settings = assignment.inbox_settings_for(talent.pk)
    settings.auto_assign, settings.member_cap = True, 1
    settings.save()
    assignment.member_set_available(talent_id=talent.pk, user=agent, available=True)
    fans = [create_fan(talent) for _ in range(4)]
    _at_once([_inbound(talent, fan) for fan in fans])
    assert Conversation.objects.filter(talent=talent, status="open").count() == 4
    assert Conversation.objects.filter(talent=talent, assignee=agent).count() == 1


def test_one_acknowledgement_when_a_fan_sends_several_texts_at_once():
    talent = create_talent("away-race", default_time_zone="UTC")
    settings = assignment.inbox_settings_for(talent.pk)
    settings.away_enabled, settings.away_text = True, "We're away."
    settings.business_days, settings.opens_at, settings.closes_at = "1,2,3,4,5", dt.time(9), dt.time(17)
    settings.save()
    fan = create_fan(talent)
    messages = [_inbound(talent, fan, f"text {n}") for n in range(4)]
    saturday = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
    with mock.patch("django.utils.timezone.now", return_value=saturday):
        _at_once(messages)
    assert OutboundMessage.objects.filter(talent=talent, body="We're away.").count() == 1
