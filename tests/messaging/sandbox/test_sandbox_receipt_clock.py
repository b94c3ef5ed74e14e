"""The sandbox stamps a message when the request reached it ("Twilio"), not when its loop got round
to processing it: the celebrity bench reads the sender's busiest second from these stamps, and a
sandbox whose loop is busy must not turn a second of well-paced sends into one late, bunched one."""

from __future__ import annotations

import datetime as dt
import time

from messaging.sandbox import messages as sandbox_messages
from messaging.sandbox import read_ledger
from messaging.sms.backends.twilio import make_client
from tests.messaging.sandbox_helpers import sandbox_settings

FAN = "+14155550101"
SENDER = "+15005550006"


class _Clock:
    """time.time() for the sandbox's messages module: the request arrives at .95 of a second and is
    processed after a slow moment in the next second."""

    def __init__(self, *stamps: float) -> None:
        self.stamps = list(stamps)

    def time(self) -> float:
        return self.stamps.pop(0) if self.stamps else time.time()


def test_date_created_and_received_at_are_the_moment_the_request_arrived(tmp_path, monkeypatch):
    arrived, processed = 1_800_000_000.95, 1_800_000_001.40
    monkeypatch.setattr(sandbox_messages, "time", _Clock(arrived, processed))
    with sandbox_settings(tmp_path):
        created = make_client().messages.create(to=FAN, from_=SENDER, body="Your link")
    [line] = read_ledger(tmp_path / "ledger.jsonl")
    assert line["received_at"] == arrived
    assert line["accepted_at"] == processed
    # Whole seconds like Twilio's, of the arrival: 08:00:00, although processed in the next second.
    expected = dt.datetime.fromtimestamp(1_800_000_000, dt.UTC)
    assert dt.datetime.fromisoformat(line["date_created"]) == expected
    assert created.date_created == expected


def test_received_at_comes_before_the_simulated_latency(tmp_path):
    with sandbox_settings(tmp_path, latency_ms=300):
        sent = time.time()
        make_client().messages.create(to=FAN, from_=SENDER, body="Your link")
        answered = time.time()
    [line] = read_ledger(tmp_path / "ledger.jsonl")
    # On arrival: the 300 ms of latency came after the stamp (however slow a loaded machine is).
    assert sent <= line["received_at"] <= answered - 0.29
    assert line["accepted_at"] - line["received_at"] >= 0.29
