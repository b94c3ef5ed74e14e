"""Erasure also reaches texts tied only to the number (sent or received before the fan row existed)."""

from __future__ import annotations

import pytest

from messaging.models import FanTag, InboundMessage, OutboundMessage, Tag
from messaging.privacy.services import fan_erase
from tests.accounts.join_support import text_in
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

PHONE = "+14155552699"


def test_a_help_sent_as_a_stranger_is_wiped_when_the_fan_later_erases(client, personas):
    assert text_in(client, personas.talent, "HELP", PHONE).status_code == 200
    unlinked_in = InboundMessage.objects.get(from_number=PHONE)
    assert unlinked_in.fan_id is None
    assert OutboundMessage.objects.filter(to_number=PHONE).exists()  # the HELP reply
    fan = create_fan(personas.talent, PHONE)
    FanTag.objects.create(fan=fan, tag=Tag.objects.create(talent=personas.talent, name="vip"))
    # Another talent's texts with the same number are not this fan's data.
    other = OutboundMessage.objects.create(talent=personas.other_talent, to_number=PHONE, body="keep")

    fan_erase(fan=fan)

    assert not InboundMessage.objects.filter(from_number=PHONE).exists()
    assert not OutboundMessage.objects.filter(talent=personas.talent, to_number=PHONE).exists()
    unlinked_in.refresh_from_db()
    assert unlinked_in.body == "" and unlinked_in.payload == {}
    assert not FanTag.objects.filter(fan=fan).exists()
    other.refresh_from_db()
    assert other.body == "keep"
