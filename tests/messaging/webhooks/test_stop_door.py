"""The webhook's STOP on PostgreSQL (messaging/conversations/stop.py) writes what the rules' ORM
path writes (inbound.py `inbound_receive`), column for column: for a pending fan with texts still
waiting for them, an active fan, a new number, a fan who already opted out, in Spanish, with and
without a subscribed webhook endpoint. Two numbers in the same state, one through each path; every
concrete column of every row either writes is compared (ids, numbers and times as what they stand
for), so a column one path forgets or fills differently fails here. On SQLite both doors are the
ORM path (the comparison holds trivially there); the statement count is PostgreSQL's."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.integration_models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from accounts.models import AuditEvent, Fan
from consent.models import ConsentRecord
from messaging.conversations.inbound import inbound_receive
from messaging.conversations.stop import inbound_stop
from messaging.sms.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import message_sid, publish_documents, text_in, twilio_inbound_payload
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

ORM, DOOR = "+14155550161", "+14155550162"  # one number through each path
# Columns that differ between the two numbers by construction: their own numbers, secrets, sids.
_OWN = {
    Fan: {"phone", "phone_hash", "link_nonce", "first_name"},
    InboundMessage: {"message_sid", "from_number", "payload"},
    ConsentRecord: {"evidence"},
    OutboundMessage: {"to_number"},
    WebhookEvent: {"event_id"},
}


def _fan_id(talent, phone) -> int | None:
    return Fan.objects.filter(talent=talent, phone=phone).values_list("pk", flat=True).first()


def _row(obj, fan_id: int | None, event_ids: set[int]) -> dict:
    out = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key or field.attname in _OWN.get(type(obj), ()):
            continue
        value = getattr(obj, field.attname)
        if isinstance(value, dt.datetime):
            value = "a time"
        elif field.attname in ("fan_id", "object_id") and fan_id is not None and str(value) == str(fan_id):
            value = "the fan"
        elif field.attname == "event_id":
            value = "the event" if value in event_ids else value
        elif field.attname == "data":
            value = {**value, "fan": {**value["fan"], "id": "the fan", "opted_out_at": "a time"}}
        out[field.attname] = value
    return out


def _written(talent, phone: str) -> dict[str, list[dict]]:
    """Every row about `phone`'s fan, each as _row gives it."""
    fan_id = _fan_id(talent, phone)
    events = list(WebhookEvent.objects.filter(fan_id=fan_id).order_by("pk")) if fan_id else []
    event_ids = {e.pk for e in events}
    rows = {
        "fan": list(Fan.objects.filter(pk=fan_id)),
        "inbound": list(InboundMessage.objects.filter(from_number=phone).order_by("pk")),
        "consent": list(ConsentRecord.objects.filter(fan_id=fan_id).order_by("pk")),
        "audit": list(AuditEvent.objects.filter(object_type="accounts.fan", object_id=str(fan_id)).order_by("pk")),
        "outbound": list(OutboundMessage.objects.filter(to_number=phone).order_by("pk")),
        "events": events,
        "deliveries": list(WebhookDelivery.objects.filter(event_id__in=event_ids).order_by("endpoint_id")),
    }
    return {name: [_row(o, fan_id, event_ids) for o in objs] for name, objs in rows.items()}


def _both(talent, body: str = "STOP", language: str = "en", sid: str | None = None) -> None:
    for phone, door in ((ORM, inbound_receive), (DOOR, inbound_stop)):
        payload = twilio_inbound_payload(talent=talent, body=body, from_=phone, sid=sid)
        kwargs = {"language": language} if door is inbound_stop else {}
        door(talent=talent, sid=payload["MessageSid"], from_number=phone, body=body, payload=payload, **kwargs)


def _same(talent) -> dict[str, list[dict]]:
    orm, door = _written(talent, ORM), _written(talent, DOOR)
    assert door == orm
    return door


def _waiting(talent, phone: str, fan: Fan | None) -> None:
    """A join link and a team reply still pending for the number: the STOP suppresses both."""
    OutboundMessage.objects.create(
        talent=talent, fan=fan, to_number=phone, body="join", lane=OutboundMessage.Lane.LINK, status="pending"
    )
    OutboundMessage.objects.create(
        talent=talent, fan=fan, to_number=phone, body="hi", kind="reply", lane=OutboundMessage.Lane.PERSONAL
    )


def _endpoints(talent) -> WebhookEndpoint:
    subscribed = WebhookEndpoint.objects.create(
        talent=talent, url="https://hooks.example.com/a", events=["fan.opted_out"], secret="whsec_a"
    )
    WebhookEndpoint.objects.create(
        talent=talent, url="https://hooks.example.com/b", events=["fan.opted_out", "fan.joined"], secret="whsec_b"
    )
    WebhookEndpoint.objects.create(
        talent=talent, url="https://hooks.example.com/c", events=["message.received"], secret="whsec_c"
    )
    WebhookEndpoint.objects.create(
        talent=talent, url="https://hooks.example.com/d", events=["fan.opted_out"], secret="whsec_d", is_active=False
    )
    return subscribed


def test_a_pending_fan_with_texts_waiting_and_two_subscribed_endpoints(personas):
    publish_documents(personas.talent)
    _endpoints(personas.talent)
    for phone in (ORM, DOOR):
        fan = create_fan(personas.talent, phone, status=Fan.Status.PENDING)
        _waiting(personas.talent, phone, fan)
    _both(personas.talent)
    rows = _same(personas.talent)
    # What the comparison compared: the whole record, on both paths.
    assert rows["fan"][0]["status"] == "opted_out" and rows["fan"][0]["opted_out_at"] == "a time"
    assert [r["action"] for r in rows["consent"]] == ["withdrawn"] and rows["consent"][0]["terms_id"] is not None
    assert [r["action"] for r in rows["audit"]] == ["fan.opted_out"]
    assert sorted(r["status"] for r in rows["outbound"]) == ["pending", "suppressed", "suppressed"]
    assert [r["lane"] for r in rows["outbound"] if r["status"] == "pending"] == [OutboundMessage.Lane.COMPLIANCE]
    assert len(rows["events"]) == 1 and len(rows["deliveries"]) == 2
    assert rows["inbound"][0]["fan_id"] == "the fan" and rows["inbound"][0]["action"] == "opt_out"


def test_an_active_fan_without_endpoints(personas):
    for phone in (ORM, DOOR):
        create_fan(personas.talent, phone, status=Fan.Status.ACTIVE, first_name="Same")
    _both(personas.talent)
    rows = _same(personas.talent)
    assert rows["events"] == [] and rows["deliveries"] == []
    assert rows["fan"][0]["status"] == "opted_out"


def test_a_new_number_in_spanish(personas):
    publish_documents(personas.talent)
    _endpoints(personas.talent)
    _both(personas.talent, body="PARAR", language="es")
    rows = _same(personas.talent)
    assert rows["fan"][0]["status"] == "opted_out" and rows["fan"][0]["source"] == "sms"
    assert len(rows["outbound"]) == 1 and len(rows["consent"]) == 1


def test_a_fan_who_opted_out_already_gets_nothing_new_but_the_suppression(personas):
    _endpoints(personas.talent)
    for phone in (ORM, DOOR):
        fan = create_fan(personas.talent, phone, status=Fan.Status.OPTED_OUT)
        _waiting(personas.talent, phone, fan)
    _both(personas.talent)
    rows = _same(personas.talent)
    assert rows["consent"] == [] and rows["audit"] == [] and rows["events"] == []
    assert sorted(r["status"] for r in rows["outbound"]) == ["suppressed", "suppressed"]  # no confirmation


def test_a_retried_stop_does_nothing_more(personas):
    create_fan(personas.talent, DOOR, status=Fan.Status.ACTIVE)
    payload = twilio_inbound_payload(talent=personas.talent, body="STOP", from_=DOOR)
    for _ in range(2):
        result = inbound_stop(
            talent=personas.talent,
            sid=payload["MessageSid"],
            from_number=DOOR,
            body="STOP",
            payload=payload,
            language="en",
        )
    assert result.message is None
    assert InboundMessage.objects.filter(message_sid=payload["MessageSid"]).count() == 1
    assert ConsentRecord.objects.filter(fan__phone=DOOR).count() == 1
    assert OutboundMessage.objects.filter(to_number=DOOR).count() == 1


def test_a_stop_from_our_own_number_is_stored_and_answered_with_nothing(personas):
    own = str(personas.talent.sender_number)
    payload = twilio_inbound_payload(talent=personas.talent, body="STOP", from_=own)
    inbound_stop(
        talent=personas.talent, sid=payload["MessageSid"], from_number=own, body="STOP", payload=payload, language="en"
    )
    assert InboundMessage.objects.get(message_sid=payload["MessageSid"]).action == "ignored"
    assert not Fan.objects.filter(talent=personas.talent, phone=own).exists()
    assert not OutboundMessage.objects.filter(to_number=own).exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the few statements are PostgreSQL's")
def test_the_webhook_applies_a_stop_in_a_few_statements(client, personas):
    publish_documents(personas.talent)
    _endpoints(personas.talent)
    create_fan(personas.talent, DOOR, status=Fan.Status.PENDING)
    with CaptureQueriesContext(connection) as queries:
        assert text_in(client, personas.talent, "STOP", DOOR, sid=message_sid()).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    start = next(i for i, s in enumerate(sql) if s.startswith("WITH o AS (SELECT phone_number FROM messaging_sender"))
    end = next(i for i, s in enumerate(sql) if s.startswith("WITH s AS (UPDATE"))
    stop = sql[start : end + 1]
    # The text, the fan and what the rest reads (our numbers, the terms, the endpoints), then the
    # rest: two, with two endpoints subscribed (the ORM path ran thirteen for a pending fan).
    assert len([s for s in stop if not s.startswith(("SAVEPOINT", "RELEASE"))]) == 2, stop
    assert Fan.objects.get(talent=personas.talent, phone=DOOR).status == Fan.Status.OPTED_OUT
    assert WebhookDelivery.objects.filter(event__fan_id=_fan_id(personas.talent, DOOR)).count() == 2


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the few statements are PostgreSQL's")
def test_a_stop_from_a_new_number_takes_one_statement_more(client, personas):
    with CaptureQueriesContext(connection) as queries:
        assert text_in(client, personas.talent, "STOP", DOOR, sid=message_sid()).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    start = next(i for i, s in enumerate(sql) if s.startswith("WITH o AS ("))
    end = next(i for i, s in enumerate(sql) if s.startswith("WITH s AS (UPDATE"))
    assert [s.split(" ", 3)[:3] for s in sql[start : end + 1]] == [
        ["WITH", "o", "AS"],
        ["INSERT", "INTO", "accounts_fan"],
        ["WITH", "s", "AS"],
    ], sql[start : end + 1]
    assert Fan.objects.get(talent=personas.talent, phone=DOOR).status == Fan.Status.OPTED_OUT


def _prepared_stops() -> list[str]:
    """The STOP's statements PostgreSQL holds prepared on this session."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return [name for name, statement in cursor.fetchall() if statement.startswith(("WITH o AS", "WITH s AS"))]


@pytest.fixture
def prepared(monkeypatch):
    from messaging.conversations import stop

    monkeypatch.setitem(stop._PREPARED, "lost", False)  # a test that loses them must not leak that
    return stop._PREPARED


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's prepared statements")
def test_a_stops_statements_are_prepared_unless_told_not_to(client, personas, settings, prepared):
    """Planning was half the STOP's statement time (pg_stat_statements, fifteenth session): each of
    its statements is prepared once per connection and its plan kept."""
    for n, phone in enumerate(("+14155550171", "+14155550172")):
        assert text_in(client, personas.talent, "STOP", phone, sid=message_sid()).status_code == 200
        assert Fan.objects.get(talent=personas.talent, phone=phone).status == Fan.Status.OPTED_OUT
        assert len(_prepared_stops()) == 2, n  # the same two for the second STOP: kept, not made again
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    settings.DATABASE_PREPARED_STATEMENTS = False
    assert text_in(client, personas.talent, "STOP", "+14155550173", sid=message_sid()).status_code == 200
    assert Fan.objects.get(talent=personas.talent, phone="+14155550173").status == Fan.Status.OPTED_OUT
    assert _prepared_stops() == []


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's prepared statements")
def test_a_stop_still_applies_when_a_pooler_lost_its_prepared_statements(client, personas, prepared):
    """Behind a pooler in transaction mode the next transaction may get a server connection without
    the statements psycopg prepared: the STOP runs again unprepared (its savepoint rolled back
    whole), applies once, and the process stops preparing."""
    assert text_in(client, personas.talent, "STOP", "+14155550181", sid=message_sid()).status_code == 200
    names = _prepared_stops()
    assert len(names) == 2
    with connection.cursor() as cursor:
        for name in names:  # one by one: psycopg forgets its own list only on DEALLOCATE ALL
            cursor.execute(f'DEALLOCATE "{name}"')
    sid = message_sid()
    assert text_in(client, personas.talent, "STOP", "+14155550182", sid=sid).status_code == 200
    fan = Fan.objects.get(talent=personas.talent, phone="+14155550182")
    assert fan.status == Fan.Status.OPTED_OUT
    assert InboundMessage.objects.filter(message_sid=sid).count() == 1
    assert ConsentRecord.objects.filter(fan=fan, action=ConsentRecord.Action.WITHDRAWN).count() == 1
    assert OutboundMessage.objects.filter(to_number="+14155550182", lane=OutboundMessage.Lane.COMPLIANCE).count() == 1
    assert prepared["lost"] is True
    assert text_in(client, personas.talent, "STOP", "+14155550183", sid=message_sid()).status_code == 200
    assert Fan.objects.get(talent=personas.talent, phone="+14155550183").status == Fan.Status.OPTED_OUT
