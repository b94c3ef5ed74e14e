"""Campaign test helpers: a campaign factory and a scriptable SMS backend (fixtures via conftest)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from messaging.models import Campaign, OutboundMessage
from messaging.sms.backends.base import BaseSmsBackend, SendResult, SmsError, SmsMessage

_seq = itertools.count(1)


def create_campaign(talent, body="Hi {first_name}! New tour dates out.", **fields) -> Campaign:
    defaults = {"name": f"Campaign {next(_seq)}", "schedule_mode": Campaign.ScheduleMode.NOW}
    defaults.update(fields)
    return Campaign.objects.create(talent=talent, body=body, **defaults)


def create_campaign_text(campaign: Campaign, fan, **fields) -> OutboundMessage:
    """The campaign's text to one fan (its talent, the fan's number), delivered unless told."""
    defaults = {"body": "Tour!", "status": "delivered"}
    defaults.update(fields)
    return OutboundMessage.objects.create(
        talent=campaign.talent, fan=fan, campaign=campaign, to_number=str(fan.phone), **defaults
    )


class ScriptedBackend(BaseSmsBackend):
    """Records sends; `errors` maps a phone number to the SmsError (or list of errors) it gets.

    Knows what it "sent", so the sweeper can reconcile against it like the provider's list API.
    """

    def __init__(self) -> None:
        self.sent: list[SmsMessage] = []
        self.errors: dict[str, list[SmsError]] = {}
        self.accepted_but_timed_out: set[str] = set()
        self.log: dict[str, tuple[str, str]] = {}  # sid -> (to, body)
        self._n = itertools.count(1)

    def fail(self, to: str, *errors: SmsError) -> None:
        self.errors[to] = list(errors)

    def send(self, message: SmsMessage) -> SendResult:
        queue = self.errors.get(message.to)
        if queue:
            raise queue.pop(0)
        sid = f"SM{next(self._n):032d}"
        self.sent.append(message)
        self.log[sid] = (message.to, message.body)
        if message.to in self.accepted_but_timed_out:
            raise SmsError("read timeout", uncertain=True)
        return SendResult(sid=sid, status="queued", parts=None)

    def find_message(self, *, to: str, body: str, since: dt.datetime) -> SendResult | None:
        for sid, (number, text) in self.log.items():
            if number == to and text == body:
                return SendResult(sid=sid)
        return None


@pytest.fixture
def backend(monkeypatch) -> ScriptedBackend:
    """Every service that calls get_backend() gets this one."""
    instance = ScriptedBackend()
    monkeypatch.setattr("messaging.sending.send.get_backend", lambda: instance)
    monkeypatch.setattr("messaging.sending.sweep.get_backend", lambda: instance)
    monkeypatch.setattr("messaging.sending.worker.get_backend", lambda: instance)
    monkeypatch.setattr("messaging.campaigns.trial_send.get_backend", lambda: instance)
    return instance


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr("messaging.sending.send.RETRY_DELAYS", (0.01, 0.01))
