"""Two deliveries at once (Twilio retries, or a fan typing fast): still one row, one reply.

Real concurrency needs PostgreSQL row locks (select_for_update is a no-op on SQLite).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from accounts.models import Fan
from messaging.conversations.inbound import inbound_receive
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import message_sid
from tests.factories import create_talent

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
STRANGER = "+14155552671"


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


def _race(talent, deliveries):
    barrier = threading.Barrier(len(deliveries))
    errors = []

    def deliver(sid, body):
        try:
            barrier.wait(timeout=10)
            inbound_receive(talent=talent, sid=sid, from_number=STRANGER, body=body, payload={"Body": body})
        except Exception as exc:  # collected: an exception in a thread would otherwise vanish
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=d) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors


def test_the_same_message_sid_delivered_twice_at_once(sms_outbox):
    talent = create_talent("race1")
    sid = message_sid()
    _race(talent, [(sid, "hello"), (sid, "hello")])
    assert InboundMessage.objects.filter(message_sid=sid).count() == 1
    assert OutboundMessage.objects.count() == 1
    assert len(sms_outbox) == 1


def test_several_texts_from_a_stranger_at_once_get_one_link(sms_outbox):
    talent = create_talent("race2")
    _race(talent, [(message_sid(), f"hi {n}") for n in range(4)])
    assert InboundMessage.objects.count() == 4
    assert Fan.objects.filter(talent=talent, phone=STRANGER).count() == 1
    assert InboundMessage.objects.filter(action="join_link").count() == 1
    assert OutboundMessage.objects.count() == 1


def test_several_texts_from_a_known_pending_fan_at_once_get_one_link(sms_outbox):
    talent = create_talent("race3")
    Fan.objects.create(talent=talent, phone=STRANGER, status=Fan.Status.PENDING, link_nonce="n")
    _race(talent, [(message_sid(), f"hi {n}") for n in range(4)])
    assert InboundMessage.objects.filter(action="join_link").count() == 1
    assert InboundMessage.objects.filter(action="join_link_skipped").count() == 3
    assert len(sms_outbox) == 1
