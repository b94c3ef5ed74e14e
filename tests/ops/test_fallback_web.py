"""docs/OPERATIONS.md "A second web process behind Twilio's fallback URL" (issue 10 §4), as written:
the fallback process runs the same code and settings but its own PUBLIC_BASE_URL, because Twilio
signs each request over the URL it called. A text that reached the primary (which stored it, then
was too slow to answer) and then the fallback is stored once and its STOP applied once."""

from __future__ import annotations

import pytest

from accounts.models import Fan
from consent.models import ConsentRecord
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import INBOUND_PATH, post_inbound, sign, twilio_inbound_payload

pytestmark = pytest.mark.django_db
FALLBACK = "https://fallback.example.com"


def test_the_fallback_process_takes_texts_signed_for_its_own_url_and_stores_a_retry_once(client, personas, settings):
    stop = twilio_inbound_payload(talent=personas.talent, body="STOP", from_=str(personas.fan.phone))
    assert post_inbound(client, stop).status_code == 200  # the primary stored it; Twilio timed out
    primary_url = settings.PUBLIC_BASE_URL

    settings.PUBLIC_BASE_URL = FALLBACK  # the fallback process's one different setting
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "fallback.example.com"]
    signed_for_fallback = sign(stop)  # what Twilio sends to the fallback URL
    assert post_inbound(client, stop, signature=signed_for_fallback).status_code == 200
    hi = twilio_inbound_payload(talent=personas.talent, body="hi", from_="+14155550177")
    assert post_inbound(client, hi, signature=sign(hi)).status_code == 200

    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert InboundMessage.objects.filter(message_sid=stop["MessageSid"]).count() == 1
    assert ConsentRecord.objects.filter(fan=personas.fan, action="withdrawn").count() == 1
    assert OutboundMessage.objects.filter(fan=personas.fan).count() == 1  # one confirmation
    assert InboundMessage.objects.filter(message_sid=hi["MessageSid"]).exists()

    # With the primary's PUBLIC_BASE_URL (the same env file unchanged) the fallback refuses
    # Twilio's requests: the doc's one required difference is needed.
    settings.PUBLIC_BASE_URL = primary_url
    again = twilio_inbound_payload(talent=personas.talent, body="hi", from_="+14155550178")
    settings.PUBLIC_BASE_URL = FALLBACK
    signed = sign(again)
    settings.PUBLIC_BASE_URL = primary_url
    assert post_inbound(client, again, signature=signed, path=INBOUND_PATH).status_code == 403
