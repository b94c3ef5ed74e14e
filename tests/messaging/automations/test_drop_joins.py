"""A rule-processor chunk's drop joins run together (drop_joins.py) with every rule of one join:
one entry and one code per fan, codes to one fan each, capacity exact, a STOP in the chunk wins."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import TestCase
from django.utils import timezone

from accounts.models import Fan
from messaging.automations.drop_models import Drop, DropCode, DropEntry
from messaging.automations.drops import drop_codes_upload, drop_save
from messaging.automations.keyword_models import Keyword
from messaging.conversations.inbound import inbound_process_batch, inbound_store
from messaging.models import ContactListMember, InboundMessage, OutboundMessage
from tests.accounts.join_support import message_sid
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def _drop(personas, **fields) -> Drop:
    values = {
        "talent": personas.talent,
        "name": "Presale",
        "confirmation": "You're in. Code: {code}",
        "release_text": "The presale is open.",
        "release_at": timezone.now() + dt.timedelta(hours=2),
        "made_it": "You made it: {code}",
        "full_text": "Full: you are on the waitlist.",
        "fallback_text": "You're in; the codes have gone.",
    }
    values.update(fields)
    drop = drop_save(drop=Drop(**values), actor=personas.manager)
    Keyword.objects.create(talent=personas.talent, word="presale", drop=drop)
    return drop


def _chunk(personas, texts: list[tuple[Fan, str]]) -> None:
    """Store the texts, then one processor pass: all of them in one chunk, like a burst."""
    for fan, body in texts:
        inbound_store(talent=personas.talent, sid=message_sid(), from_number=str(fan.phone), body=body, payload={})
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert inbound_process_batch() == len(texts)


def _sent(sms_outbox, fan) -> list[str]:
    return [m.body for m in sms_outbox if m.to == str(fan.phone)]


def test_a_chunk_of_joins_binds_one_code_each_and_a_stop_later_in_the_chunk_wins(personas, sms_outbox):
    drop = _drop(personas)
    drop_codes_upload(drop=drop, data=b"K1\nK2\n", actor=personas.manager)
    a, b, c, d = (create_fan(personas.talent, f"+1415555{300 + i:04d}") for i in range(4))
    _chunk(personas, [(a, "PRESALE"), (b, "presale"), (a, "Presale"), (d, "PRESALE"), (c, "PRESALE"), (d, "STOP")])
    assert _sent(sms_outbox, a) == ["You're in. Code: K1"]  # twice in the chunk: one entry, one code, one reply
    assert _sent(sms_outbox, b) == ["You're in. Code: K2"]
    assert _sent(sms_outbox, c) == [drop.fallback_text]  # the codes ran out
    assert len(_sent(sms_outbox, d)) == 1 and "K" not in _sent(sms_outbox, d)[0]  # only the STOP confirmation
    assert set(DropEntry.objects.values_list("fan_id", flat=True)) == {a.pk, b.pk, c.pk}
    assert dict(DropCode.objects.values_list("code", "fan_id")) == {"K1": a.pk, "K2": b.pk}
    assert not OutboundMessage.objects.filter(fan=d, kind=OutboundMessage.Kind.REPLY).exists()
    assert InboundMessage.objects.filter(action=InboundMessage.Action.KEYWORD).count() == 5
    assert Keyword.objects.get().uses_count == 5
    assert set(ContactListMember.objects.filter(contact_list=drop.entrants_list).values_list("fan_id", flat=True)) == {
        a.pk,
        b.pk,
        c.pk,
    }


def test_capacity_is_exact_within_a_chunk_first_come_first_in(personas, sms_outbox):
    drop = _drop(personas, capacity=2, waitlist=True)
    fans = [create_fan(personas.talent, f"+1415555{310 + i:04d}") for i in range(3)]
    _chunk(personas, [(f, "PRESALE") for f in fans])
    statuses = dict(DropEntry.objects.values_list("fan_id", "status"))
    assert [statuses[f.pk] for f in fans] == ["entered", "entered", "waitlisted"]
    drop.refresh_from_db()
    assert (drop.entrants_count, drop.waitlist_count) == (2, 1)
    assert _sent(sms_outbox, fans[2]) == [drop.full_text]
    _chunk(personas, [(create_fan(personas.talent, "+14155550399"), "PRESALE")])  # a later chunk: still full
    drop.refresh_from_db()
    assert (drop.entrants_count, drop.waitlist_count) == (2, 2)


def test_a_chunk_after_the_release_gets_you_made_it_once(personas, sms_outbox):
    drop = _drop(personas, confirmation="You're in.", made_it="You made it!")
    drop.campaign.started_at = timezone.now()  # the release went out
    drop.campaign.save(update_fields=["started_at"])
    fan = create_fan(personas.talent, "+14155550320")
    _chunk(personas, [(fan, "PRESALE"), (fan, "PRESALE")])
    assert _sent(sms_outbox, fan) == ["You made it!"]
    assert DropEntry.objects.get(fan=fan).made_it_at is not None
