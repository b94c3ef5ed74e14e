"""What the sandbox must keep doing however cheap it gets (issue 10, its CPU a message): each status
callback signed for its own URL with the `?m=` hint the lane put there, sent over a kept-alive
connection, and one ledger line per accepted message, in the file when the answer arrives."""

from __future__ import annotations

from django.conf import settings
from twilio.request_validator import RequestValidator

from messaging.sandbox import read_ledger
from messaging.sms.backends.twilio import make_client
from tests.messaging.sandbox_helpers import sandbox_settings, webhook_receiver

SENDER = "+15005550006"


def fan(i: int) -> str:
    return f"+1415555020{i}"


def test_each_callback_keeps_its_hint_and_signature_over_one_kept_alive_connection(tmp_path):
    with webhook_receiver(keep_alive=True) as receiver, sandbox_settings(tmp_path) as url:
        client = make_client()
        sids = {}
        for i in (7, 8, 9):
            callback = f"{receiver.url}/webhooks/twilio/status/?m={i}"
            sids[i] = client.messages.create(
                to=f"+1415555010{i}", from_=SENDER, body=f"link {i}", status_callback=callback
            ).sid
            assert url.wait_callbacks()  # one message at a time: one connection is enough for all
        opened = url.call(lambda: url.sandbox._poster.connections_opened)
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    seen = []
    for path, headers, form in receiver.requests:
        hint = path.rpartition("?m=")[2]
        assert path == f"/webhooks/twilio/status/?m={hint}"
        # Signed for the URL the lane asked for, hint included (the web checks exactly this).
        assert validator.validate(f"{receiver.url}{path}", form, headers["X-Twilio-Signature"])
        assert not validator.validate(f"{receiver.url}/webhooks/twilio/status/", form, headers["X-Twilio-Signature"])
        assert form["MessageSid"] == sids[int(hint)]
        seen.append((int(hint), form["MessageStatus"]))
    assert seen == [(7, "sent"), (7, "delivered"), (8, "sent"), (8, "delivered"), (9, "sent"), (9, "delivered")]
    assert len(set(receiver.peers)) == 1 and opened == 1  # kept alive, not a connection a callback


def test_a_receiver_that_closes_each_connection_still_gets_every_callback(tmp_path):
    with webhook_receiver() as receiver, sandbox_settings(tmp_path) as url:  # HTTP/1.0: closes after each
        client = make_client()
        for i in range(3):
            client.messages.create(to=fan(i), from_=SENDER, body="hi", status_callback=f"{receiver.url}/cb?m={i}")
        assert url.wait_callbacks()
        stats = url.call(lambda: dict(url.sandbox.stats))
    assert sorted(path for path, _, _ in receiver.requests) == sorted(f"/cb?m={i}" for i in range(3) for _ in range(2))
    assert stats["callbacks_sent"] == 6 and stats["callbacks_failed"] == 0


def test_the_ledger_line_is_in_the_file_when_the_answer_arrives_once_a_message(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    with sandbox_settings(tmp_path, ledger=ledger):
        client = make_client()
        for i in range(5):
            sid = client.messages.create(to=fan(i), from_=SENDER, body=f"n{i}").sid
            lines = read_ledger(ledger)  # read while the sandbox runs: nothing waits in a buffer
            assert [line["sid"] for line in lines][-1] == sid
            assert len(lines) == i + 1  # never missing, never doubled
            assert lines[-1]["Body"] == f"n{i}" and lines[-1]["received_at"] <= lines[-1]["accepted_at"]


def test_the_callback_body_and_signature_are_urlencode_and_twilios_byte_for_byte():
    import random
    from urllib.parse import urlencode

    from messaging.sandbox.callbacks import form_body, signature

    rng = random.Random(10)
    pieces = ["SM0a1b", "+14155550101", "sent", "2010-04-01", "a b", "é", "😀", "&=?", "%2B", "", "MG" + "f" * 32]
    validator = RequestValidator("token-ü")
    for _ in range(200):
        params = {
            rng.choice(["MessageSid", "To", "From", "ErrorCode", "X"]) + str(n): rng.choice(pieces) for n in range(6)
        }
        url = f"https://fans.example.com/webhooks/twilio/status/?m={rng.randint(1, 10**9)}"
        assert form_body(params) == urlencode(params).encode()
        assert signature("token-ü".encode(), url, params) == validator.compute_signature(url, params)
