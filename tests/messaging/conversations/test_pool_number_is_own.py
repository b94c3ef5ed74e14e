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


@pytest.mark.xfail(
    strict=True,
    reason="gap reported to the celebrity-web/lane engineers: conversations/inbound.py compares From "
    "with Talent.sender_number only, not the talent's pool senders; remove this mark when it does",
)
def test_a_text_from_one_of_the_talents_pool_numbers_is_answered_with_nothing(client, personas, sms_outbox):
    Sender.objects.create(talent=personas.talent, kind="long_code", phone_number="+14155550177")
    assert text_in(client, personas.talent, "hi", "+14155550177").status_code == 200
    _lane()
    assert InboundMessage.objects.get().action == InboundMessage.Action.IGNORED
    assert sms_outbox == [] and not Fan.objects.filter(phone="+14155550177").exists()
