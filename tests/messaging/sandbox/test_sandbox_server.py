"""The sandbox server through the real twilio SDK (sync client) and raw HTTP: what Twilio would answer."""

from __future__ import annotations

import asyncio
import base64
import re
from email.utils import parsedate_to_datetime

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from messaging.sandbox import read_ledger
from messaging.sms.backends.twilio import make_client
from tests.messaging.sandbox_helpers import sandbox_settings, webhook_receiver

SID = re.compile(r"^SM[0-9a-f]{32}$")
FAN = "+14155550101"
SENDER = "+15005550006"


def messages_url(base_url: str) -> str:
    return f"{base_url}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Messages.json"


def test_accepted_message_has_twilios_shape_and_is_ledgered_first(tmp_path):
    with sandbox_settings(tmp_path) as url:
        client = make_client()
        created = client.messages.create(
            to=FAN,
            from_=SENDER,
            body="Hello from Nova 🎤",
            status_callback="https://fans.example.com/webhooks/twilio/status/",
            media_url=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"],
        )
        raw = requests.get(f"{url}{created.uri}", auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)).json()
    assert SID.match(created.sid)
    assert created.status == "queued"
    assert created.account_sid == settings.TWILIO_ACCOUNT_SID
    assert (created.to, created.from_, created.body) == (FAN, SENDER, "Hello from Nova 🎤")
    assert created.num_segments == "1"
    assert created.num_media == "2"
    assert created.error_code is None
    assert created.direction == "outbound-api"
    assert created.uri == f"/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Messages/{created.sid}.json"
    assert parsedate_to_datetime(raw["date_created"]).tzinfo is not None  # RFC 2822
    assert created.date_created is not None  # the SDK parsed it
    [line] = read_ledger(tmp_path / "ledger.jsonl")
    assert line == {
        "To": FAN,
        "From": SENDER,
        "Body": "Hello from Nova 🎤",
        "StatusCallback": "https://fans.example.com/webhooks/twilio/status/",
        "MediaUrl": ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"],
        "sid": created.sid,
        "date_created": line["date_created"],
        "received_at": line["received_at"],
        "accepted_at": line["accepted_at"],
    }


def test_messaging_service_sends_start_accepted_and_segments_are_counted(tmp_path):
    with sandbox_settings(tmp_path):
        created = make_client().messages.create(to=FAN, messaging_service_sid="MG" + "a" * 32, body="ê" * 71)
    assert created.status == "accepted"
    assert created.messaging_service_sid == "MG" + "a" * 32
    assert created.num_segments == "2"  # UCS-2: 70 per single message
    assert read_ledger(tmp_path / "ledger.jsonl")[0]["MessagingServiceSid"] == "MG" + "a" * 32


def test_wrong_credentials_get_401_20003_and_nothing_is_ledgered(tmp_path):
    with sandbox_settings(tmp_path) as url:
        resp = requests.post(messages_url(url), data={"To": FAN, "From": SENDER, "Body": "x"}, auth=("ACnope", "bad"))
        anonymous = requests.post(messages_url(url), data={"To": FAN, "From": SENDER, "Body": "x"})
    assert resp.status_code == 401 and anonymous.status_code == 401
    assert resp.json()["code"] == 20003
    assert read_ledger(tmp_path / "ledger.jsonl") == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": SENDER, "Body": "x"}, 21604),
        ({"To": "4155550101", "From": SENDER, "Body": "x"}, 21211),
        ({"To": FAN, "Body": "x"}, 21603),
        ({"To": FAN, "From": SENDER}, 21602),
        ({"To": FAN, "From": SENDER, "Body": "x" * 1601}, 21617),
        ({"To": "+15005550001", "From": SENDER, "Body": "x"}, 21211),
        ({"To": "+15005550002", "From": SENDER, "Body": "x"}, 21612),
        ({"To": "+15005550003", "From": SENDER, "Body": "x"}, 21408),
        ({"To": "+15005550004", "From": SENDER, "Body": "x"}, 21610),
        ({"To": "+15005550009", "From": SENDER, "Body": "x"}, 21614),
        ({"To": FAN, "From": "+15005550008", "Body": "x"}, 21611),
    ],
)
def test_validation_errors_are_twilios(tmp_path, fields, code):
    with sandbox_settings(tmp_path) as url:
        resp = requests.post(
            messages_url(url), data=fields, auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
        )
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == code and body["status"] == 400 and body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert read_ledger(tmp_path / "ledger.jsonl") == []


def test_media_only_message_is_accepted(tmp_path):
    with sandbox_settings(tmp_path):
        created = make_client().messages.create(to=FAN, from_=SENDER, media_url=["https://cdn.example.com/a.jpg"])
    assert created.num_media == "1"


def test_fail_rate_answers_429_or_5xx_and_creates_nothing(tmp_path):
    with sandbox_settings(tmp_path, fail_rate=1.0, seed=7):
        client = make_client()
        answers = set()
        for _ in range(12):
            with pytest.raises(TwilioRestException) as info:
                client.messages.create(to=FAN, from_=SENDER, body="x")
            answers.add((info.value.status, info.value.code))
    assert (429, 20429) in answers
    assert {status for status, _ in answers} & {500, 503}
    assert read_ledger(tmp_path / "ledger.jsonl") == []


def test_fetch_and_filtered_list_with_paging(tmp_path):
    with sandbox_settings(tmp_path):
        client = make_client()
        sids = [client.messages.create(to=FAN, from_=SENDER, body=f"m{i}").sid for i in range(3)]
        other = client.messages.create(to="+14155550199", from_=SENDER, body="other").sid
        listed = client.messages.list(to=FAN, page_size=2)  # the SDK follows next_page_uri
        fetched = client.messages(sids[0]).fetch()
        with pytest.raises(TwilioRestException) as missing:
            client.messages("SM" + "0" * 32).fetch()
    assert [m.sid for m in listed] == list(reversed(sids))  # newest first, other fans excluded
    assert other not in {m.sid for m in listed}
    assert fetched.sid == sids[0] and fetched.body == "m0"
    assert missing.value.status == 404 and missing.value.code == 20404


def test_status_callbacks_are_signed_and_move_sent_then_delivered(tmp_path):
    with webhook_receiver() as receiver, sandbox_settings(tmp_path) as url:
        callback = receiver.url + "/webhooks/twilio/status/?talent=nova"
        created = make_client().messages.create(to=FAN, from_=SENDER, body="hi", status_callback=callback)
        assert url.wait_callbacks()
        fetched = make_client().messages(created.sid).fetch()
    statuses = [form["MessageStatus"] for _, _, form in receiver.requests]
    assert statuses == ["sent", "delivered"]
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    for path, headers, form in receiver.requests:
        assert path == "/webhooks/twilio/status/?talent=nova"
        assert validator.validate(callback, form, headers["X-Twilio-Signature"])
        assert form["MessageSid"] == form["SmsSid"] == created.sid
        assert form["SmsStatus"] == form["MessageStatus"]
        assert (form["To"], form["From"], form["AccountSid"], form["ApiVersion"]) == (
            FAN,
            SENDER,
            settings.TWILIO_ACCOUNT_SID,
            "2010-04-01",
        )
        assert "ErrorCode" not in form
    assert not validator.validate(callback, {**form, "MessageStatus": "failed"}, headers["X-Twilio-Signature"])
    assert fetched.status == "delivered" and fetched.date_sent is not None


def test_callback_fail_rate_ends_undelivered_or_failed_with_an_error_code(tmp_path):
    with webhook_receiver() as receiver, sandbox_settings(tmp_path, callback_fail_rate=1.0, seed=3) as url:
        for _ in range(4):
            make_client().messages.create(to=FAN, from_=SENDER, body="hi", status_callback=receiver.url + "/cb")
        assert url.wait_callbacks()
    finals = [form for _, _, form in receiver.requests if form["MessageStatus"] != "sent"]
    assert len(finals) == 4
    for form in finals:
        assert form["MessageStatus"] in {"undelivered", "failed"}
        assert form["ErrorCode"] in {"30003", "30005", "30007", "30008"}


def test_a_dead_callback_target_does_not_break_the_sandbox(tmp_path):
    with webhook_receiver() as receiver:
        dead = receiver.url + "/cb"  # closed when the block ends
    with sandbox_settings(tmp_path) as url:
        client = make_client()
        client.messages.create(to=FAN, from_=SENDER, body="1", status_callback=dead)
        assert url.wait_callbacks()
        second = client.messages.create(to=FAN, from_=SENDER, body="2")
        stats = url.call(lambda: dict(url.sandbox.stats))
    assert SID.match(second.sid)
    assert stats["callbacks_failed"] == 2 and stats["accepted"] == 2


def test_ledger_has_one_line_per_accepted_message_under_concurrency(tmp_path):
    with sandbox_settings(tmp_path, latency_ms=5) as url:
        auth = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)

        async def blast() -> list[str]:
            import aiohttp

            token = base64.b64encode(":".join(auth).encode()).decode()
            async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:

                async def one(i: int) -> str:
                    data = {"To": f"+1415555{i:04d}", "From": SENDER, "Body": f"n{i}"}
                    async with session.post(messages_url(url), data=data) as resp:
                        return (await resp.json())["sid"]

                return await asyncio.gather(*(one(i) for i in range(200)))

        sids = asyncio.run(blast())
    lines = read_ledger(tmp_path / "ledger.jsonl")
    assert len(lines) == 200
    assert {line["sid"] for line in lines} == set(sids)
    assert {line["Body"] for line in lines} == {f"n{i}" for i in range(200)}


# --- sms_in ------------------------------------------------------------------------------------
def test_sms_in_posts_a_signed_twilio_shaped_inbound_webhook(capsys):
    with webhook_receiver(reply=b"<Response/>") as receiver:
        call_command("sms_in", "--from", FAN, "--to", SENDER, "JOIN nova", url=receiver.url, wait=0)  # a bare base URL
    [(path, headers, form)] = receiver.requests
    assert path == "/webhooks/twilio/inbound/"
    public_url = settings.PUBLIC_BASE_URL + "/webhooks/twilio/inbound/"
    assert RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(public_url, form, headers["X-Twilio-Signature"])
    assert (form["From"], form["To"], form["Body"]) == (FAN, SENDER, "JOIN nova")
    assert SID.match(form["MessageSid"]) and form["SmsSid"] == form["SmsMessageSid"] == form["MessageSid"]
    assert (form["NumMedia"], form["NumSegments"], form["AccountSid"], form["ApiVersion"]) == (
        "0",
        "1",
        settings.TWILIO_ACCOUNT_SID,
        "2010-04-01",
    )
    out = capsys.readouterr().out
    assert "200 OK" in out and "JOIN nova" in out


def test_sms_in_reports_an_error_answer(capsys):
    with webhook_receiver(status=403, reply=b"bad signature") as receiver, pytest.raises(CommandError, match="403"):
        call_command("sms_in", "--from", FAN, "--to", SENDER, "hi", url=receiver.url + "/x/", wait=0)
    assert "bad signature" in capsys.readouterr().out
    assert receiver.requests[0][0] == "/x/"  # a URL with a path is used as given


def test_sms_in_says_clearly_when_nothing_listens():
    with webhook_receiver() as receiver:
        url = receiver.url + "/webhooks/twilio/inbound/"
    with pytest.raises(CommandError, match="nothing is listening"):
        call_command("sms_in", "--from", FAN, "--to", SENDER, "hi", url=url, wait=0)


def test_sms_in_rejects_a_bad_number():
    with pytest.raises(CommandError, match="E.164"):
        call_command("sms_in", "--from", "0415", "--to", SENDER, "hi", url="http://127.0.0.1:9/")


def test_twilio_sandbox_command_rejects_a_bad_rate():
    with pytest.raises(CommandError):
        call_command("twilio_sandbox", "--fail-rate", "2")


def test_the_oldest_messages_are_forgotten_beyond_max_stored(tmp_path):
    with sandbox_settings(tmp_path, max_stored=2):
        client = make_client()
        sids = [client.messages.create(to=FAN, from_=SENDER, body=f"m{i}").sid for i in range(3)]
        listed = [m.sid for m in client.messages.list(to=FAN)]
        with pytest.raises(TwilioRestException):
            client.messages(sids[0]).fetch()
    assert listed == [sids[2], sids[1]]
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 3  # the ledger keeps everything


@pytest.mark.slow
def test_twilio_sandbox_command_serves_the_sdk(tmp_path):
    """The command as a developer runs it: a real process, a real port, the SDK pointed at it."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from bench.sandbox_floor import free_port

    port = free_port()
    ledger = tmp_path / "ledger.jsonl"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "twilio_sandbox",
            "--port",
            str(port),
            "--latency-ms",
            "0",
            "--ledger",
            str(ledger),
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # a loaded 2-core machine can take 20 s to start Django
        while True:
            try:
                requests.get(url + "/health", timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    # Stop it before reading its output: reading a live server's pipe waits forever
                    # (this test once hung the suite instead of failing).
                    proc.kill()
                    pytest.fail("the sandbox did not answer: " + proc.communicate(timeout=10)[0].decode())
                time.sleep(0.1)
        with override_settings(TWILIO_API_BASE_URL=url):
            created = make_client().messages.create(to=FAN, from_=SENDER, body="from the command")
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}" in output
    assert [line["sid"] for line in read_ledger(ledger)] == [created.sid]


def test_bench_floor_really_sends_through_the_sdk(tmp_path):
    from bench.sandbox_floor import bare_create_async_rate

    with sandbox_settings(tmp_path) as url:
        rate = bare_create_async_rate(url, 30, 5)
    assert rate > 0
    lines = read_ledger(tmp_path / "ledger.jsonl")
    assert sorted(line["Body"] for line in lines) == sorted(f"bench {i}" for i in range(30))
