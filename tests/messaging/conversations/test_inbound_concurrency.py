"""Two deliveries at once (Twilio retries, or a fan typing fast): still one row, one reply.

Real concurrency needs PostgreSQL row locks (select_for_update is a no-op on SQLite).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from accounts.models import Fan
from messaging.conversations.inbound import inbound_receive
from messaging.conversations.stop import inbound_stop
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import message_sid
from tests.factories import create_talent

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
STRANGER = "+14155552671"


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


def _race(talent, deliveries, door=inbound_receive):
    barrier = threading.Barrier(len(deliveries))
    errors = []

    def deliver(sid, body):
        try:
            barrier.wait(timeout=10)
            extra = {"language": "en"} if door is inbound_stop else {}
            door(talent=talent, sid=sid, from_number=STRANGER, body=body, payload={"Body": body}, **extra)
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


@pytest.mark.parametrize("status", [None, Fan.Status.PENDING, Fan.Status.ACTIVE])
def test_stops_at_the_door_from_one_number_at_once_apply_once(status):
    """The webhook's STOP (messaging/conversations/stop.py): four at once from a new number or a
    member, each its own MessageSid, and one retried: one fan row, one consent record, one
    confirmation, every text stored once and pointing at the fan."""
    from consent.models import ConsentRecord

    talent = create_talent(f"stoprace{status or 'new'}")
    if status is not None:
        Fan.objects.create(talent=talent, phone=STRANGER, status=status)
    retried = message_sid()
    sids = [message_sid() for _ in range(3)] + [retried, retried]
    _race(talent, [(sid, "STOP") for sid in sids], door=inbound_stop)
    fan = Fan.objects.get(talent=talent, phone=STRANGER)
    assert fan.status == Fan.Status.OPTED_OUT
    assert ConsentRecord.objects.filter(fan=fan, action="withdrawn").count() == 1
    assert OutboundMessage.objects.filter(to_number=STRANGER).count() == 1
    stored = InboundMessage.objects.filter(from_number=STRANGER)
    assert stored.count() == 4 and set(stored.values_list("fan_id", flat=True)) == {fan.pk}
