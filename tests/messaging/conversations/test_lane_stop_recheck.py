"""The priority lane's in-flight STOP re-check (issue 10, trust: STOP always works).

A join link or reply claimed before its fan's STOP must not leave once the STOP is committed. The
lane re-reads STOPs while it sends; under load that query is slow, and a text that came to the
check while it ran used to go on the result before it (two links left after their STOP in a
3,000-text burst). Now it waits for the check in flight, taken after the waits for rate and
connection.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from messaging.conversations import priority
from messaging.sms.backends.base import BaseSmsBackend, SendResult
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


class Recorder(BaseSmsBackend):
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message):
        self.sent.append(message.to)
        return SendResult(sid=f"SM{len(self.sent):032d}", parts=1)


def test_a_text_arriving_while_the_stop_recheck_runs_waits_for_its_answer(personas, settings, monkeypatch):
    settings.CAMPAIGN_SEND_CONCURRENCY = 4
    first = create_fan(personas.talent, "+14155550401")
    second = create_fan(personas.talent, "+14155550402")
    checks: list[set[int]] = []

    def slow_check(fan_ids: set[int]) -> set[int]:
        # The database as read at the end of a slow query: the second fan's STOP committed meanwhile.
        checks.append(set(fan_ids))
        time.sleep(0.3)
        return {second.pk} & fan_ids

    monkeypatch.setattr(priority, "_inactive_in_thread", slow_check)
    rows = [
        priority._Row(
            OutboundMessage(
                pk=index + 1,
                talent=personas.talent,
                fan=fan,
                to_number=str(fan.phone),
                body="Join here",
                lane=OutboundMessage.Lane.LINK,
                parts=1,
            ),
            body="Join here",
        )
        for index, fan in enumerate([first, second])
    ]
    backend = Recorder()
    asyncio.run(priority._send_all(rows, backend))
    assert backend.sent == [str(first.phone)]
    assert [r.suppressed for r in rows] == [False, True]
    # The second text waited for the query in flight (it did not go on an older answer); it may start
    # the next query ahead of the last one's expiry (test_lane_no_idle.py), never instead of waiting.
    assert checks[0] == {first.pk, second.pk}
