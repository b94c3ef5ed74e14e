"""POST /webhooks/twilio/inbound/: signature, routing, idempotency, keyword rules, replies."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from twilio.request_validator import RequestValidator

from accounts.models import Fan
from consent.models import ConsentRecord
from messaging.models import InboundMessage, OutboundMessage
from messaging.sms.backends import SmsError, locmem
from tests.accounts.join_support import (
    INBOUND_PATH,
    message_sid,
    post_inbound,
    sign,
    text_in,
    twilio_inbound_payload,
)
from tests.factories import create_fan, create_talent

pytestmark = pytest.mark.django_db
STRANGER = "+14155552671"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def test_validator_matches_twilios_documented_example():
    # The SDK we validate with reproduces Twilio's published example signature.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert RequestValidator("12345").compute_signature(url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize("signature", ["", "bm90LWEtc2lnbmF0dXJl", "wrong-token"])
def test_missing_or_wrong_signature_is_403_and_stores_nothing(client, personas, sms_outbox, signature):
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    if signature == "wrong-token":
        signature = sign(payload, token="not-our-token")
    response = post_inbound(client, payload, signature=signature)
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0
    assert not Fan.objects.filter(phone=STRANGER).exists()
    assert sms_outbox == []


def test_a_tampered_body_breaks_the_signature(client, personas, sms_outbox):
    payload = twilio_inbound_payload(talent=personas.talent, body="hello", from_=personas.fan.phone)
    signature = sign(payload)
    payload["Body"] = "STOP"
    assert post_inbound(client, payload, signature=signature).status_code == 403
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.ACTIVE


def test_signature_covers_extra_fields_twilio_adds(client, personas):
    # The whole POST is validated, not a whitelist: an unknown new field is signed and accepted.
    payload = twilio_inbound_payload(
        talent=personas.talent, body="hi", from_=STRANGER, AddOns='{"status":"successful"}'
    )
    assert post_inbound(client, payload).status_code == 200


def test_stranger_gets_one_signup_link_not_one_per_message(client, personas, sms_outbox):
    first = text_in(client, personas.talent, "hey is this Nova?", STRANGER)
    assert first.status_code == 200
    assert first["Content-Type"].startswith("text/xml")
    assert b"<Response>" in first.content
    fan = Fan.objects.get(talent=personas.talent, phone=STRANGER)
    assert fan.status == Fan.Status.PENDING
    assert len(sms_outbox) == 1
    assert sms_outbox[0].to == STRANGER
    assert sms_outbox[0].from_ == str(personas.talent.sender_number)
    assert f"{settings.PUBLIC_BASE_URL}/join/{personas.talent.slug}/?t=" in sms_outbox[0].body
    assert personas.talent.program_name in sms_outbox[0].body

    text_in(client, personas.talent, "hello??", STRANGER)
    text_in(client, personas.talent, "anyone there", STRANGER)
    assert len(sms_outbox) == 1
    actions = list(InboundMessage.objects.order_by("received_at", "pk").values_list("action", flat=True))
    assert actions == ["join_link", "join_link_skipped", "join_link_skipped"]
    assert Fan.objects.filter(phone=STRANGER).count() == 1


def test_retried_webhook_creates_nothing_new_and_sends_nothing_twice(client, personas, sms_outbox):
    payload = twilio_inbound_payload(talent=personas.talent, body="STOP", from_=personas.fan.phone)
    assert post_inbound(client, payload).status_code == 200
    assert post_inbound(client, payload).status_code == 200
    assert InboundMessage.objects.filter(message_sid=payload["MessageSid"]).count() == 1
    assert ConsentRecord.objects.filter(fan=personas.fan).count() == 1
    assert len(sms_outbox) == 1
    assert OutboundMessage.objects.filter(fan=personas.fan).count() == 1


def test_routes_by_messaging_service_sid_when_to_is_not_a_talent_number(client, sms_outbox):
    talent = create_talent("mss", sender_number="", messaging_service_sid="MG" + "a" * 32)
    payload = twilio_inbound_payload(talent=talent, body="hi", from_=STRANGER, To="+15005559999")
    assert post_inbound(client, payload).status_code == 200
    message = InboundMessage.objects.get()
    assert message.talent == talent
    assert sms_outbox[0].messaging_service_sid == talent.messaging_service_sid


def test_unknown_or_inactive_talent_is_404_and_stores_nothing(client, personas, sms_outbox):
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER, To="+15005550999")
    assert post_inbound(client, payload).status_code == 404
    personas.talent.is_active = False
    personas.talent.save()
    assert text_in(client, personas.talent, "hi", STRANGER).status_code == 404
    assert InboundMessage.objects.count() == 0
    assert sms_outbox == []


def test_missing_fields_are_400(client, personas):
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    del payload["MessageSid"], payload["SmsMessageSid"]
    assert post_inbound(client, payload).status_code == 400
    assert client.get(INBOUND_PATH).status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        "  Stop.  ",
        "STOP!!!",
        "StopAll",
        "UNSUBSCRIBE",
        "cancel",
        "End",
        "quit",
        "REVOKE",
        "optout",
        "opt out",
        "OPT-OUT",
        "Opt  Out!",
        "stop please",
        "Please stop",
        "stop texting me",
        "Unsubscribe me.",
        "please unsubscribe me",
        "remove me from your list",
    ],
)
def test_opt_out_wordings_unsubscribe_at_once_with_one_confirmation(client, personas, sms_outbox, body):
    payload = twilio_inbound_payload(talent=personas.talent, body=body, from_=personas.fan.phone)
    assert post_inbound(client, payload).status_code == 200
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert personas.fan.opted_out_at is not None
    record = ConsentRecord.objects.get(fan=personas.fan)
    assert (record.purpose, record.action, record.method) == ("messaging", "withdrawn", "sms_keyword")
    assert record.evidence == payload["MessageSid"]
    assert len(sms_outbox) == 1
    reply = sms_outbox[0].body
    assert personas.talent.program_name in reply
    assert "no more messages" in reply
    assert "START" in reply
    assert "http" not in reply  # no marketing, no links
    message = InboundMessage.objects.get(message_sid=payload["MessageSid"])
    assert message.action == "opt_out" and message.fan == personas.fan and not message.needs_reply


@pytest.mark.parametrize(
    "body", ["stop by the venue tonight?", "don't stop the music", "STOP IT NOW I LOVE THIS SONG so much"]
)
def test_sentences_containing_stop_are_not_opt_outs(client, personas, sms_outbox, body):
    text_in(client, personas.talent, body, str(personas.fan.phone))
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.ACTIVE
    message = InboundMessage.objects.get()
    assert message.action == "inbox" and message.needs_reply
    assert sms_outbox == []


def test_stop_from_a_stranger_is_remembered(client, personas, sms_outbox):
    text_in(client, personas.talent, "STOP", STRANGER)
    fan = Fan.objects.get(phone=STRANGER)
    assert fan.status == Fan.Status.OPTED_OUT
    assert len(sms_outbox) == 1


@pytest.mark.parametrize("body", ["START", "unstop", "Yes"])
def test_opt_in_keywords_resubscribe_an_opted_out_fan(client, personas, sms_outbox, body):
    text_in(client, personas.talent, "STOP", str(personas.fan.phone))
    text_in(client, personas.talent, body, str(personas.fan.phone))
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.ACTIVE
    actions = list(
        ConsentRecord.objects.filter(fan=personas.fan).order_by("created_at", "pk").values_list("action", "method")
    )
    assert actions == [("withdrawn", "sms_keyword"), ("granted", "sms_keyword")]
    assert len(sms_outbox) == 2
    assert "subscribed again" in sms_outbox[1].body
    assert "Msg & data rates may apply" in sms_outbox[1].body


def test_yes_from_a_pending_fan_does_not_make_it_a_member(client, personas, sms_outbox):
    # Issue 15: a number that has not joined never passes the age gate by keyword.
    text_in(client, personas.talent, "hi", STRANGER)
    text_in(client, personas.talent, "YES", STRANGER)
    fan = Fan.objects.get(phone=STRANGER)
    assert fan.status == Fan.Status.PENDING
    assert ConsentRecord.objects.filter(fan=fan).count() == 0


def test_yes_from_an_active_fan_is_an_ordinary_reply(client, personas, sms_outbox):
    text_in(client, personas.talent, "yes!", str(personas.fan.phone))
    assert InboundMessage.objects.get().action == "inbox"
    assert ConsentRecord.objects.count() == 0
    assert sms_outbox == []


@pytest.mark.parametrize("body", ["HELP", "help?", "Info"])
def test_help_reply_has_the_compliance_facts(client, personas, sms_outbox, body):
    personas.talent.support_contact = "support@nova.example.com"
    personas.talent.save()
    text_in(client, personas.talent, body, STRANGER)
    assert len(sms_outbox) == 1
    reply = sms_outbox[0].body
    for fact in [
        personas.talent.program_name,
        personas.talent.message_frequency,
        "Msg & data rates may apply",
        "STOP",
        "support@nova.example.com",
    ]:
        assert fact in reply
    assert Fan.objects.filter(phone=STRANGER).count() == 0  # HELP alone stores no fan


def test_active_fan_text_lands_in_the_inbox_without_a_reply(client, personas, sms_outbox):
    text_in(client, personas.talent, "Loved the show last night!", str(personas.fan.phone))
    message = InboundMessage.objects.get()
    assert message.needs_reply and message.fan == personas.fan and message.action == "inbox"
    personas.fan.refresh_from_db()
    assert personas.fan.last_reply_at is not None
    assert sms_outbox == []


def test_opted_out_fan_gets_no_link_or_reply(client, personas, sms_outbox):
    fan = create_fan(personas.talent, "+14155552672", status=Fan.Status.OPTED_OUT)
    text_in(client, personas.talent, "hello", str(fan.phone))
    assert InboundMessage.objects.get().action == "ignored"
    assert sms_outbox == []


def test_media_fields_are_stored_with_the_message(client, personas):
    text_in(
        client,
        personas.talent,
        "",
        str(personas.fan.phone),
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
        MediaContentType0="image/jpeg",
    )
    message = InboundMessage.objects.get()
    assert message.payload["MediaUrl0"].endswith("/ME1")
    assert message.payload["NumMedia"] == "1"


def test_replies_record_the_provider_sid_and_status(client, personas, sms_outbox):
    text_in(client, personas.talent, "HELP", str(personas.fan.phone))
    out = OutboundMessage.objects.get()
    assert out.kind == "system" and out.status == "queued" and out.provider_sid.startswith("SMlocmem")
    assert out.to_number == str(personas.fan.phone) and out.sent_at is not None


def test_a_permanent_provider_error_marks_the_reply_failed(client, personas, sms_outbox):
    locmem.failures.append(SmsError("not a mobile number", code="21614", permanent=True))
    text_in(client, personas.talent, "HELP", str(personas.fan.phone))
    out = OutboundMessage.objects.get()
    assert out.status == "failed" and out.error_code == "21614"


def test_an_uncertain_send_is_never_retried_blindly(client, personas, sms_outbox):
    locmem.failures.append(SmsError("timeout", uncertain=True))
    text_in(client, personas.talent, "HELP", str(personas.fan.phone))
    assert OutboundMessage.objects.get().status == "uncertain"
    assert sms_outbox == []


def test_per_phone_rate_limit_still_lets_stop_through(client, personas, settings, sms_outbox):
    settings.RATELIMIT_WEBHOOK_PER_PHONE = (3, 60)
    phone = str(personas.fan.phone)
    for n in range(3):
        assert text_in(client, personas.talent, f"msg {n}", phone).status_code == 200
    limited = text_in(client, personas.talent, "msg 4", phone)
    assert limited.status_code == 429
    assert b"Too many" in limited.content
    assert InboundMessage.objects.count() == 3
    assert text_in(client, personas.talent, "STOP", phone).status_code == 200
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    # Another number is not affected.
    assert text_in(client, personas.talent, "hi", STRANGER).status_code == 200


def test_per_ip_rate_limit_stops_unsigned_floods(client, personas, settings):
    settings.RATELIMIT_WEBHOOK_PER_IP = (2, 60)
    for n in range(2):
        payload = twilio_inbound_payload(talent=personas.talent, body=f"x{n}", from_=STRANGER)
        assert post_inbound(client, payload, signature="forged").status_code == 403
    payload = twilio_inbound_payload(talent=personas.talent, body="x3", from_=STRANGER)
    assert post_inbound(client, payload, signature="forged").status_code == 429
    assert InboundMessage.objects.count() == 0


def test_signed_traffic_from_one_address_is_never_limited_per_ip(client, personas, settings):
    """Twilio posts every fan's text from a few addresses: a reply wave after a blast must not
    turn a STOP into a 429 (Twilio does not retry inbound webhooks, so it would be lost)."""
    settings.RATELIMIT_WEBHOOK_PER_IP = (2, 60)
    for n in range(3):
        assert text_in(client, personas.talent, "hi", f"+1415555267{n}").status_code == 200
    assert text_in(client, personas.talent, "STOP", str(personas.fan.phone)).status_code == 200
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT


def test_message_sid_is_unique_even_across_talents(client, personas):
    sid = message_sid()
    text_in(client, personas.talent, "hi", STRANGER, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
    text_in(client, personas.other_talent, "hi", STRANGER, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
    assert InboundMessage.objects.count() == 1


def test_signature_covers_the_query_string(client, personas):
    path = INBOUND_PATH + "?source=twilio"
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    assert post_inbound(client, payload, path=path, signature=sign(payload, path)).status_code == 200
    other = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    assert post_inbound(client, other, path=path, signature=sign(other, INBOUND_PATH)).status_code == 403


def test_signature_is_checked_against_the_public_url_not_the_host_header(client, personas):
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    signed_for_internal_host = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        "http://testserver" + INBOUND_PATH, payload
    )
    assert post_inbound(client, payload, signature=signed_for_internal_host).status_code == 403


def test_compliance_texts_are_gsm7_and_the_link_fits_one_segment(client, personas, sms_outbox):
    from consent import texts
    from messaging.sandbox.parts import count_parts, is_gsm7

    text_in(client, personas.talent, "hi", STRANGER)
    assert count_parts(sms_outbox[0].body) == 1, len(sms_outbox[0].body)
    talent = personas.talent
    for body in [
        texts.signup_confirmation(talent),
        texts.opt_out_confirmation(talent),
        texts.opt_in_confirmation(talent),
        texts.help_reply(talent),
        texts.phone_code(talent, "123456"),
        texts.data_link(talent, "https://fans.example.com/me/?t=abc"),
        texts.sharing_reconsent(talent, "https://fans.example.com/me/?t=abc"),
    ]:
        assert is_gsm7(body), body


def test_validation_can_be_switched_off_only_for_demos(client, personas, settings):
    settings.TWILIO_VALIDATE_WEBHOOKS = False
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    assert post_inbound(client, payload, signature="").status_code == 200


@pytest.mark.parametrize("sender", ["12345", "VERIZON", "+1"])
def test_short_codes_and_alphanumeric_senders_are_stored_but_never_answered(client, personas, sms_outbox, sender):
    assert text_in(client, personas.talent, "STOP", sender).status_code == 200
    message = InboundMessage.objects.get()
    assert message.action == "ignored" and message.fan is None
    assert Fan.objects.count() == 2  # the personas' fans only
    assert sms_outbox == []


def test_a_messaging_service_cannot_be_shared_by_two_talents(personas):
    """Without a number to tell them apart, a STOP could land on the wrong talent's fan, or nowhere:
    a service belongs to one talent (issue 15; the console's error: tests/security/test_senders.py)."""
    from django.db import IntegrityError, transaction

    sid = "MG" + "a" * 32
    personas.talent.messaging_service_sid = sid
    personas.talent.save(update_fields=["messaging_service_sid"])
    personas.other_talent.messaging_service_sid = sid
    with pytest.raises(IntegrityError), transaction.atomic():
        personas.other_talent.save(update_fields=["messaging_service_sid"])


def test_a_signature_over_the_url_with_its_port_is_accepted(client, personas):
    # The fast path signs the URL as configured once; Twilio sometimes signs it with the default
    # port spelled out, which validate()'s fallback still accepts.
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    url = settings.PUBLIC_BASE_URL.replace("fans.example.com", "fans.example.com:443") + INBOUND_PATH
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, payload)
    assert post_inbound(client, payload, signature=signature).status_code == 200
    assert InboundMessage.objects.filter(from_number=STRANGER).count() == 1


def test_a_non_ascii_signature_is_403_not_500(client, personas):
    payload = twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)
    assert post_inbound(client, payload, signature="sïgnature²").status_code == 403
    assert InboundMessage.objects.count() == 0


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_store_survives_a_dead_database_connection(client, personas):
    # The store skips the per-request health check (a round trip per text in a burst); a connection
    # that died since the last request (PostgreSQL restarted, a proxy cut it) must still store the
    # text, never answer Twilio 500 (Twilio does not retry inbound texts).
    import psycopg
    from django.db import connection

    assert (
        post_inbound(client, twilio_inbound_payload(talent=personas.talent, body="hi", from_=STRANGER)).status_code
        == 200
    )
    backend_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    payload = twilio_inbound_payload(talent=personas.talent, body="still here?", from_=STRANGER)
    assert post_inbound(client, payload).status_code == 200
    assert InboundMessage.objects.filter(from_number=STRANGER, body="still here?").count() == 1
    assert connection.connection.info.backend_pid != backend_pid


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_stop_survives_a_dead_database_connection(client, personas, sms_outbox):
    # The STOP skips the health check too (messaging/conversations/stop.py) and runs once more on a
    # fresh connection: a STOP answered 500 would be a STOP lost (Twilio does not retry it).
    import psycopg
    from django.db import connection

    assert text_in(client, personas.talent, "hi", STRANGER).status_code == 200  # the talent's routing, remembered
    backend_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    assert text_in(client, personas.talent, "STOP", str(personas.fan.phone)).status_code == 200
    assert connection.connection.info.backend_pid != backend_pid
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert ConsentRecord.objects.filter(fan=personas.fan, action=ConsentRecord.Action.WITHDRAWN).count() == 1
    assert InboundMessage.objects.filter(from_number=str(personas.fan.phone), body="STOP").count() == 1


def test_a_stop_to_another_number_of_the_talents_sender_pool_opts_the_fan_out(client, personas, sms_outbox):
    """A blast leaves from every number of the pool (issue 17): a fan answers the number that texted
    them, and STOP there is STOP for this talent, never an unknown number's text."""
    from messaging.sending.models import Sender

    Sender.objects.create(talent=personas.talent, kind="10dlc", phone_number="+14155550177", trust_score=80)
    response = text_in(client, personas.talent, "STOP", str(personas.fan.phone), To="+14155550177")
    assert response.status_code == 200
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert InboundMessage.objects.get().talent == personas.talent
