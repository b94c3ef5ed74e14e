"""The twilio backend (sync and async paths) against the in-thread sandbox, with the real SDK."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from twilio.base.exceptions import TwilioRestException

from messaging.sandbox import read_ledger
from messaging.sms.backends.base import SmsError, SmsMessage
from messaging.sms.backends.twilio import TwilioBackend, error_from_exception
from tests.messaging.sandbox_helpers import sandbox_settings

FAN = "+14155550101"
SENDER = "+15005550006"


def send_sync(message: SmsMessage):
    return TwilioBackend().send(message)


def send_async(message: SmsMessage):
    backend = TwilioBackend()

    async def run():
        try:
            return await backend.send_async(message)
        finally:
            await backend.aclose()

    return asyncio.run(run())


SENDERS = pytest.mark.parametrize("send", [send_sync, send_async], ids=["sync", "async"])


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@SENDERS
def test_accepted_send_returns_the_sid_in_the_ledger(tmp_path, send):
    message = SmsMessage(
        to=FAN,
        from_=SENDER,
        body="Tour dates are out",
        media_urls=("https://cdn.example.com/poster.jpg",),
        status_callback="https://fans.example.com/webhooks/twilio/status/",
    )
    with sandbox_settings(tmp_path):
        result = send(message)
    [line] = read_ledger(tmp_path / "ledger.jsonl")
    assert result.sid == line["sid"]
    assert (result.status, result.parts) == ("queued", 1)
    assert line["To"] == FAN and line["Body"] == "Tour dates are out"
    assert line["MediaUrl"] == ["https://cdn.example.com/poster.jpg"]
    assert line["StatusCallback"] == "https://fans.example.com/webhooks/twilio/status/"


@SENDERS
@pytest.mark.parametrize(
    ("message", "code"),
    [
        (SmsMessage(to="", from_=SENDER, body="x"), "21604"),
        (SmsMessage(to="0415 555 0101", from_=SENDER, body="x"), "21211"),
        (SmsMessage(to=FAN, body="x"), "21603"),
        (SmsMessage(to=FAN, from_=SENDER, body=""), "21602"),
        (SmsMessage(to=FAN, from_=SENDER, body="x" * 1601), "21617"),
        (SmsMessage(to="+15005550001", from_=SENDER, body="x"), "21211"),
        (SmsMessage(to="+15005550002", from_=SENDER, body="x"), "21612"),
        (SmsMessage(to="+15005550003", from_=SENDER, body="x"), "21408"),
        (SmsMessage(to="+15005550004", from_=SENDER, body="x"), "21610"),
        (SmsMessage(to="+15005550009", from_=SENDER, body="x"), "21614"),
    ],
)
def test_rejections_are_permanent_errors_with_twilios_code(tmp_path, send, message, code):
    with sandbox_settings(tmp_path), pytest.raises(SmsError) as info:
        send(message)
    assert info.value.code == code
    assert info.value.permanent and not info.value.uncertain
    assert info.value.http_status == 400
    assert read_ledger(tmp_path / "ledger.jsonl") == []


@SENDERS
def test_full_sender_queue_is_retryable(tmp_path, send):
    with sandbox_settings(tmp_path), pytest.raises(SmsError) as info:
        send(SmsMessage(to=FAN, from_="+15005550008", body="x"))
    assert info.value.code == "21611" and not info.value.permanent and not info.value.uncertain


@SENDERS
def test_429_and_5xx_are_retryable_and_not_uncertain(tmp_path, send):
    seen = set()
    with sandbox_settings(tmp_path, fail_rate=1.0, seed=7):
        for _ in range(12):
            with pytest.raises(SmsError) as info:
                send(SmsMessage(to=FAN, from_=SENDER, body="x"))
            assert not info.value.permanent and not info.value.uncertain
            seen.add((info.value.http_status, info.value.code))
    assert (429, "20429") in seen
    assert {status for status, _ in seen} & {500, 503}
    assert read_ledger(tmp_path / "ledger.jsonl") == []


@SENDERS
def test_connection_refused_is_retryable_not_uncertain(send):
    with (
        override_settings(TWILIO_API_BASE_URL=closed_port_url(), TWILIO_HTTP_TIMEOUT=2),
        pytest.raises(SmsError) as info,
    ):
        send(SmsMessage(to=FAN, from_=SENDER, body="x"))
    assert not info.value.permanent and not info.value.uncertain


@SENDERS
def test_timeout_after_acceptance_is_uncertain_and_reconciled_by_listing(tmp_path, send):
    since = datetime.now(UTC)
    message = SmsMessage(to=FAN, from_=SENDER, body="Presale code: NOVA24")
    with sandbox_settings(tmp_path, http_timeout=0.2, slow_after_accept_ms=500):
        with pytest.raises(SmsError) as info:
            send(message)
        assert info.value.uncertain and not info.value.permanent
        [line] = read_ledger(tmp_path / "ledger.jsonl")  # it was created: resending would duplicate it
        backend = TwilioBackend()
        with override_settings(TWILIO_HTTP_TIMEOUT=5):  # listing is not slowed down
            found = TwilioBackend().find_message(to=FAN, body=message.body, since=since)
            not_sent = backend.find_message(to=FAN, body="another text", since=since)
            later = backend.find_message(to=FAN, body=message.body, since=datetime(2099, 1, 1, tzinfo=UTC))

            async def find_async():
                try:
                    return await backend.find_message_async(to=FAN, body=message.body, since=since)
                finally:
                    await backend.aclose()

            found_async = asyncio.run(find_async())
    assert found is not None and found.sid == line["sid"]
    assert found_async is not None and found_async.sid == line["sid"]
    assert not_sent is None and later is None


def test_one_async_client_per_event_loop_and_aclose_closes_it(tmp_path):
    backend = TwilioBackend()
    sessions = []

    async def batch(n: int):
        results = await asyncio.gather(
            *(backend.send_async(SmsMessage(to=f"+1415555{n}{i:03d}", from_=SENDER, body="hi")) for i in range(20))
        )
        client = backend.async_client()
        assert client is backend.async_client()  # reused within the loop
        sessions.append(client.http_client.session)
        await backend.aclose()
        return results

    with sandbox_settings(tmp_path):
        first = asyncio.run(batch(1))
        second = asyncio.run(batch(2))  # a new loop: a new session, not the closed one
    assert len({r.sid for r in first + second}) == 40
    assert sessions[0] is not sessions[1]
    assert all(session.closed for session in sessions)
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 40


def test_async_client_has_no_retries_and_a_real_timeout(tmp_path):
    backend = TwilioBackend()

    async def inspect():
        client = backend.async_client()
        try:
            return type(client.http_client.session).__name__, client.http_client.session.timeout.total
        finally:
            await backend.aclose()

    with override_settings(TWILIO_HTTP_TIMEOUT=7.5):
        kind, timeout = asyncio.run(inspect())
    assert kind == "ClientSession"  # not aiohttp_retry's RetryClient: a re-POST would duplicate an SMS
    assert timeout == 7.5


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21610, True),
        (400, 30007, True),
        (429, 20429, False),
        (400, 21611, False),
        (500, 20500, False),
        (503, None, False),
        (400, 21999, True),
    ],
)
def test_error_table(status, code, permanent):
    error = error_from_exception(TwilioRestException(status, "uri", msg="m", code=code))
    assert error.permanent is permanent and not error.uncertain
