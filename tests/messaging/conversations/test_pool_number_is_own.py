"""Issue 10 §5, audited with sender pools (issue 17 §1): "a From that is the talent's own number
(store, send nothing)". A text from one of the talent's pool numbers is from its own number too:
answering it sends a join link to ourselves and makes a pending fan of our own sender. (The talent's
own number alone: test_inbound_burst.py.)"""

from __future__ import annotations

import pytest
from django.test import TestCase

from accounts.models import Fan
from messaging.conversations.lane import priority_lane_run
from messaging.models import InboundMessage
from messaging.sending.models import Sender
from tests.accounts.join_support import text_in

pytestmark = pytest.mark.django_db


def _lane():
    with TestCase.captureOnCommitCallbacks(execute=True):
        priority_lane_run(budget_seconds=5, linger_seconds=0)


def test_a_text_from_one_of_the_talents_pool_numbers_is_answered_with_nothing(client, personas, sms_outbox):
    Sender.objects.create(talent=personas.talent, kind="long_code", phone_number="+14155550177")
    assert text_in(client, personas.talent, "hi", "+14155550177").status_code == 200
    _lane()
    assert InboundMessage.objects.get().action == InboundMessage.Action.IGNORED
    assert sms_outbox == [] and not Fan.objects.filter(phone="+14155550177").exists()


def test_a_text_from_another_talents_number_is_answered_with_nothing(client, personas, sms_outbox):
    personas.other_talent.sender_number = "+14155550188"
    personas.other_talent.save()
    assert text_in(client, personas.talent, "hi", "+14155550188").status_code == 200
    _lane()
    assert InboundMessage.objects.get().action == InboundMessage.Action.IGNORED
    assert sms_outbox == [] and not Fan.objects.filter(talent=personas.talent, phone="+14155550188").exists()


def test_a_fan_next_to_a_pool_number_still_gets_their_link(client, personas, sms_outbox):
    # The check is exact: one of our numbers in the chunk leaves the fans beside it untouched.
    Sender.objects.create(talent=personas.talent, kind="long_code", phone_number="+14155550177")
    text_in(client, personas.talent, "hi", "+14155550177")
    text_in(client, personas.talent, "hi", "+14155550166")
    _lane()
    assert Fan.objects.filter(talent=personas.talent, phone="+14155550166").exists()
    assert [m.to for m in sms_outbox] == ["+14155550166"]
