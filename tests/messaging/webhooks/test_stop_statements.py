"""A STOP is applied inside the webhook's request (issue 10), so what it costs there is the
celebrity's second wave. On PostgreSQL the webhook writes it in a few plain statements
(messaging/conversations/stop.py; tests/messaging/webhooks/test_stop_door.py); the rules' ORM path
(`inbound_receive`: SQLite's door, and the one the plain statements are compared with) locks the
fan's row once (the rules' read), reads its talent no more, and still writes the consent record,
the audit row and the outgoing webhook in the same transaction."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.integration_models import WebhookDelivery, WebhookEndpoint
from accounts.models import AuditEvent, Fan
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from messaging.conversations.inbound import inbound_receive
from messaging.models import OutboundMessage
from tests.accounts.join_support import publish_documents, text_in, twilio_inbound_payload
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def _endpoint(talent, events, **fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        talent=talent, url="https://hooks.example.com/in", events=events, secret="whsec_x", **fields
    )


def test_a_stop_from_a_pending_fan_locks_the_row_once_and_writes_the_whole_record(personas):
    terms, privacy = publish_documents(personas.talent)
    fan = create_fan(personas.talent, "+14155550177", status=Fan.Status.PENDING)
    subscribed = _endpoint(personas.talent, ["fan.opted_out"])
    _endpoint(personas.talent, ["message.received"])  # not subscribed to opt-outs
    _endpoint(personas.talent, ["fan.opted_out"], is_active=False)  # switched off
    payload = twilio_inbound_payload(talent=personas.talent, body="STOP", from_="+14155550177")
    with CaptureQueriesContext(connection) as queries:
        inbound_receive(
            talent=personas.talent, sid=payload["MessageSid"], from_number="+14155550177", body="STOP", payload=payload
        )
    sql = [q["sql"] for q in queries.captured_queries]
    # The STOP's transaction: from the text's INSERT to its row's marking (the lane runs after).
    start = next(i for i, s in enumerate(sql) if s.startswith('INSERT INTO "messaging_inboundmessage"'))
    end = next(i for i, s in enumerate(sql) if s.startswith('UPDATE "messaging_inboundmessage"'))
    stop = sql[start : end + 1]
    reads = [s for s in stop if s.startswith("SELECT") and 'FROM "accounts_fan"' in s]
    assert len(reads) == 1, stop  # the rules' read; fan_opt_out(locked=True) reads and locks it no more
    if connection.vendor == "postgresql":
        assert "FOR UPDATE" in reads[0]
    record_at = next(i for i, s in enumerate(stop) if s.startswith('INSERT INTO "consent_consentrecord"'))
    assert not [s for s in stop[:record_at] if s.startswith("SAVEPOINT")], stop  # fan_opt_out's own: gone
    assert not [s for s in stop if 'FROM "accounts_talent"' in s], stop  # the talent is the rules'

    fan.refresh_from_db()
    assert fan.status == Fan.Status.OPTED_OUT and fan.opted_out_at is not None
    record = ConsentRecord.objects.get(fan=fan)
    assert (record.action, record.purpose, record.terms_id, record.privacy_id) == (
        "withdrawn",
        "messaging",
        terms.pk,
        privacy.pk,
    )
    assert AuditEvent.objects.filter(action="fan.opted_out", object_id=str(fan.pk)).count() == 1
    deliveries = WebhookDelivery.objects.filter(event__type="fan.opted_out", event__fan_id=fan.pk)
    assert list(deliveries.values_list("endpoint_id", flat=True)) == [subscribed.pk]
    confirmation = OutboundMessage.objects.get(fan=fan)
    assert confirmation.lane == OutboundMessage.Lane.COMPLIANCE


def test_a_second_stop_is_applied_once(client, personas):
    create_fan(personas.talent, "+14155550178", status=Fan.Status.PENDING)
    for _ in range(2):
        assert text_in(client, personas.talent, "STOP", "+14155550178").status_code == 200
    fan = Fan.objects.get(talent=personas.talent, phone="+14155550178")
    assert fan.status == Fan.Status.OPTED_OUT
    assert ConsentRecord.objects.filter(fan=fan, action="withdrawn").count() == 1
    assert OutboundMessage.objects.filter(fan=fan).count() == 1  # one confirmation (Twilio refuses a second)


@pytest.mark.django_db(transaction=True)  # no test-case transaction around it
def test_locked_needs_the_callers_transaction(personas):
    with pytest.raises(ValueError, match="transaction"):
        fan_opt_out(fan=personas.fan, evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD), locked=True)
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.ACTIVE
