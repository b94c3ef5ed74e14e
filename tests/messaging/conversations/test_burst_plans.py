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


def _never_analysed(*tables: str) -> None:
    """The tables as a fresh install's burst finds them: never analysed, so the planner goes by
    their size on disk. Set here because autovacuum analyses the test database whenever it likes
    (a table analysed while it held two rows plans otherwise, and the tests flaked on it). Catalog
    rows, changed in the test's transaction and rolled back with it (the suite runs as superuser)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass", [table])
            cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table])


def test_a_chunks_fans_are_read_by_number_however_many_the_talent_has(personas):
    talent = personas.talent
    fans_create_pending(talent=talent, phones={f"+1312557{n:04d}" for n in range(5000)})
    _never_analysed("accounts_fan")
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
    _never_analysed("accounts_fan", "messaging_inboundmessage")
    fan_ids = list(InboundMessage.objects.filter(action=Action.JOIN_LINK).values_list("fan_id", flat=True)[:100])
    assert len(fan_ids) == 100
    linked, plan = _plan(lambda: inbound.linked_fans(fan_ids))
    assert linked == set(fan_ids)
    assert "inbound_fan_recent" in plan and "Seq Scan on messaging_inboundmessage" not in plan, plan
    assert "messaging_inboundmessage_received_at" not in plan, plan


def test_a_chunks_fans_are_read_by_number_when_the_statistics_say_the_table_is_empty(personas):
    """The fan table analysed before a burst's fans were committed (autovacuum does it any minute;
    its statistics then say the table is as good as empty). `pk IN (probes)` left PostgreSQL a
    semi-join to plan, and one such plan ran a 5,000-number chunk loop for minutes (a hung test
    suite run, thirteenth session). Now the probes are the statement: one look-up per number,
    driven by the numbers (a LATERAL subquery with LIMIT 1 is never flattened or reordered), whatever
    index the statistics make each look-up pick."""
    talent = personas.talent
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_fan")  # two fans: the personas'
    fans_create_pending(talent=talent, phones={f"+1312559{n:04d}" for n in range(5000)})
    numbers = {f"+1312559{n:04d}" for n in range(0, 5000, 50)} | {"+13125580000"}  # one not a fan
    fans, plan = _plan(lambda: inbound.fans_of(talent, numbers))
    assert {str(f.phone) for f in fans} == numbers - {"+13125580000"}
    lines = [line.strip() for line in plan.splitlines()]
    assert lines[0].startswith("Nested Loop") and lines[1].startswith("->  Function Scan on unnest"), plan
    assert "Seq Scan on accounts_fan" not in plan and "Semi Join" not in plan and "accounts_fan_pkey" not in plan, plan
