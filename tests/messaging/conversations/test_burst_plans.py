"""The rule loop's look-ups in a burst probe an index per number or fan, whatever PostgreSQL's
statistics say: a burst right after the install runs on tables never analysed, where a plan over
the whole table (a sequential scan, or the talent's index) reads the whole burst for every chunk
of 100 texts and grows with it (docs/ARCHITECTURE.md, issue 10, twelfth session). Each test
EXPLAINs the statement the code runs; the statements they replaced fail them."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import fans_create_pending
from messaging.conversations import inbound
from messaging.sms.models import InboundMessage

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's plans"),
]
Action = InboundMessage.Action
_sids = itertools.count()


@pytest.fixture
def quiet_lane(monkeypatch):
    monkeypatch.setattr(inbound, "priority_lane_kick", lambda **kwargs: None)


def _plan(call):
    with CaptureQueriesContext(connection) as queries:
        result = call()
    (statement,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement)
        return result, "\n".join(row[0] for row in cursor.fetchall())


def test_a_chunks_fans_are_read_by_number_however_many_the_talent_has(personas):
    talent = personas.talent
    fans_create_pending(talent=talent, phones={f"+1312557{n:04d}" for n in range(5000)})
    numbers = {f"+1312557{n:04d}" for n in range(100, 200)} | {"+13125580000"}  # one not a fan
    fans, plan = _plan(lambda: inbound.fans_of(talent, numbers))
    assert {str(f.phone) for f in fans} == numbers - {"+13125580000"}
    assert "fan_talent_phone_unique" in plan and "Seq Scan on accounts_fan" not in plan, plan
    assert "fan_talent_id" not in plan, plan  # every fan of the talent, for each chunk


def test_a_chunks_join_links_are_looked_up_fan_by_fan_however_big_the_burst(personas, quiet_lane):
    """A burst's first texts (5,000 numbers, each answered with its join link), then a chunk's
    question "had these fans their link?": by the fans' index, not the received_at one."""
    talent = personas.talent
    InboundMessage.objects.bulk_create(
        InboundMessage(talent=talent, message_sid=f"SM{next(_sids):032d}", from_number=n, body="omg hi", payload={})
        for n in (f"+1312556{n:04d}" for n in range(5000))
    )
    inbound.inbound_process_batch(limit=5000)
    fan_ids = list(InboundMessage.objects.filter(action=Action.JOIN_LINK).values_list("fan_id", flat=True)[:100])
    assert len(fan_ids) == 100
    linked, plan = _plan(lambda: inbound.linked_fans(fan_ids))
    assert linked == set(fan_ids)
    assert "inbound_fan_recent" in plan and "Seq Scan on messaging_inboundmessage" not in plan, plan
    assert "messaging_inboundmessage_received_at" not in plan, plan
