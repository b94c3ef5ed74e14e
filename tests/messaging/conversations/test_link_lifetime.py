"""One signup link per link lifetime (JOIN_LINK_MAX_AGE), however often a number texts: on the
rule processor's bulk path and on the one-by-one path (a talent keyword from a stranger). On
PostgreSQL `inbound.linked_fans` looks each fan up by the fans' index, whatever the statistics
say: a plan over the whole table (the received_at index, eighth session; a sequential scan of a
table never analysed, twelfth) read the whole burst for every chunk (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.automations.keyword_models import Keyword
from messaging.conversations import inbound
from messaging.sms.models import InboundMessage, OutboundMessage

pytestmark = pytest.mark.django_db
Action = InboundMessage.Action
_sids = itertools.count()


def _texts(talent, number: str, body: str, count: int = 1) -> None:
    InboundMessage.objects.bulk_create(
        InboundMessage(talent=talent, message_sid=f"SM{next(_sids):032d}", from_number=number, body=body, payload={})
        for _ in range(count)
    )


def _actions(number: str) -> list[str]:
    return list(InboundMessage.objects.filter(from_number=number).order_by("id").values_list("action", flat=True))


@pytest.fixture
def quiet_lane(monkeypatch):
    monkeypatch.setattr(inbound, "priority_lane_kick", lambda **kwargs: None)


@pytest.mark.parametrize("body", ["omg hi", "TOUR"])  # the bulk path; a keyword goes one by one
def test_a_number_gets_one_link_a_lifetime_and_another_after_it(personas, settings, quiet_lane, body):
    talent = personas.talent
    if body == "TOUR":
        Keyword.objects.create(talent=talent, word="tour", reply="Dates soon")
    number = "+13125550190"
    _texts(talent, number, body, count=2)
    inbound.inbound_process_batch()
    assert _actions(number) == [Action.JOIN_LINK, Action.JOIN_LINK_SKIPPED]
    links = OutboundMessage.objects.filter(to_number=number, lane=OutboundMessage.Lane.LINK)
    assert links.count() == 1

    # The first link's lifetime runs out: the next text gets a new one, then no more.
    old = timezone.now() - dt.timedelta(seconds=settings.JOIN_LINK_MAX_AGE + 60)
    InboundMessage.objects.filter(from_number=number).update(received_at=old)
    _texts(talent, number, body, count=2)
    inbound.inbound_process_batch()
    assert _actions(number)[2:] == [Action.JOIN_LINK, Action.JOIN_LINK_SKIPPED]
    assert links.count() == 2


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's plan")
def test_each_fan_is_looked_up_by_its_index_however_big_the_burst(personas, quiet_lane):
    """A burst's first texts (5,000 numbers, each with its join link) in a table never analysed:
    the lookup of a chunk's fans reads their rows by the fans' index, no scan of the table."""
    talent = personas.talent
    numbers = [f"+1312556{n:04d}" for n in range(5000)]
    InboundMessage.objects.bulk_create(
        InboundMessage(talent=talent, message_sid=f"SM{next(_sids):032d}", from_number=n, body="omg hi", payload={})
        for n in numbers
    )
    inbound.inbound_process_batch(limit=5000)
    fan_ids = list(InboundMessage.objects.filter(action=Action.JOIN_LINK).values_list("fan_id", flat=True)[:100])
    assert len(fan_ids) == 100
    with CaptureQueriesContext(connection) as queries:
        assert inbound.linked_fans(fan_ids) == set(fan_ids)
    (statement,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "inbound_fan_recent" in plan and "Seq Scan on messaging_inboundmessage" not in plan, plan
    assert "messaging_inboundmessage_received_at" not in plan, plan
