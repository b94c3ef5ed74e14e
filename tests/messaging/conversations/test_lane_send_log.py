"""The lane's own clock for the celebrity bench (settings.PRIORITY_LANE_SEND_LOG): one line per send
call with its wall and monotonic time, process and batch, set beside the sandbox's stamps to tell our
sending from the sandbox's reading (issue 10, the busiest-second bound). Off by default."""

from __future__ import annotations

import json
import os
import time

import pytest
from django.test import override_settings

from messaging.conversations import priority
from messaging.sms.backends.base import BaseSmsBackend, SendResult
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


class Stamps(BaseSmsBackend):
    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def send_async(self, message):
        self.at[message.to] = time.monotonic()
        return SendResult(sid=f"SM{len(self.at):032d}", parts=1)


def _pending(personas, count: int) -> list[OutboundMessage]:
    rows = []
    for i in range(count):
        phone = f"+1415555074{i}"
        fan = create_fan(personas.talent, phone)
        rows.append(
            OutboundMessage.objects.create(
                talent=personas.talent,
                fan=fan,
                to_number=phone,
                body="Hi",
                lane=OutboundMessage.Lane.PERSONAL,
                kind=OutboundMessage.Kind.SYSTEM,
                status=OutboundMessage.Status.PENDING,
            )  # fmt: skip
        )
    return rows


def test_each_send_call_is_logged_with_both_clocks_once_per_batch(personas, tmp_path):
    rows = _pending(personas, 3)
    log = tmp_path / "sends.jsonl"
    backend = Stamps()
    with override_settings(PRIORITY_LANE_SEND_LOG=str(log)):
        before = time.time()
        assert priority.priority_send_batch(backend=backend) == 3
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(m.pk for m in rows)
    for line in lines:
        assert line["slot_mono"] <= line["mono"] <= backend.at[line["to"]]  # stamped as the call is made
        assert before <= line["wall"] <= time.time()
        assert (line["pid"], line["parts"], line["lane"]) == (os.getpid(), 1, OutboundMessage.Lane.PERSONAL)
    assert len({line["batch"] for line in lines}) == 1


def test_nothing_is_logged_unless_asked(personas, tmp_path, settings):
    _pending(personas, 1)
    settings.PRIORITY_LANE_SEND_LOG = ""
    assert priority.priority_send_batch(backend=Stamps()) == 1
    assert list(tmp_path.iterdir()) == []
