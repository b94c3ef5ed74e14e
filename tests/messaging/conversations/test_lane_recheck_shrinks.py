"""The lane's STOP re-check asks only about fans with a text still to leave (issue 10: a cheaper query
as a batch goes), and a fan with a second text in the batch stays checked until that one is decided:
a STOP committed after their first text still stops the second."""

from __future__ import annotations

import asyncio

import pytest

from messaging.conversations import priority
from messaging.sms.backends.base import BaseSmsBackend, SendResult
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


class Recorder(BaseSmsBackend):
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_async(self, message):
        self.sent.append(message.to)
        return SendResult(sid=f"SM{len(self.sent):032d}", parts=1)


def test_the_recheck_shrinks_to_fans_still_waiting_and_keeps_a_fan_with_a_second_text(personas, monkeypatch):
    a, b, c = (create_fan(personas.talent, f"+1415555046{i}") for i in range(3))
    checks: list[set[int]] = []

    def check(fan_ids: set[int]) -> set[int]:
        checks.append(set(fan_ids))
        return {a.pk} & fan_ids if len(checks) == 4 else set()  # a's STOP lands after their first text

    monkeypatch.setattr(priority, "_inactive_in_thread", check)
    monkeypatch.setattr(priority, "STOP_RECHECK_SECONDS", 0.0)  # a fresh query for every text
    rows = [
        priority._Row(
            OutboundMessage(
                pk=index + 1,
                talent=personas.talent,
                fan=fan,
                to_number=str(fan.phone),
                body="Hi",
                lane=OutboundMessage.Lane.PERSONAL,
                parts=1,
            )
        )  # fmt: skip
        for index, fan in enumerate([a, b, c, a])
    ]
    backend = Recorder()
    asyncio.run(priority._send_all(rows, backend))
    assert checks == [{a.pk, b.pk, c.pk}, {a.pk, b.pk, c.pk}, {a.pk, c.pk}, {a.pk}]
    assert backend.sent == [str(a.phone), str(b.phone), str(c.phone)]
    assert [r.suppressed for r in rows] == [False, False, False, True]
