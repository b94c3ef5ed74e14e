"""The rule loop yields the CPU to the sender loop beside it (issue 10: links at the sender's rate).

Both loops run on the priority cluster, and under the kernel's autogroup scheduler a Procfile
line's processes share one group's CPU: busy with a burst's backlog, the rule loop took the
sender's turns (links at 88 % of the rate). The `run_inbound_rules` task now runs the loop in a
thread niced above its worker; the worker itself (whose next task may be the sender loop) keeps its
priority. Linux only (a thread's nice value is its own there)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from messaging import tasks
from messaging.conversations import lane

pytestmark = pytest.mark.django_db(transaction=True)


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.fixture
def queued(monkeypatch):
    """As the priority cluster runs its tasks: not inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_rule_loop_runs_niced_in_its_own_thread_and_the_worker_keeps_its_priority(queued, monkeypatch):
    seen = {}

    def loop(**kwargs):
        seen.update(kwargs, nice=_nice(), thread=threading.get_native_id())
        return {"processed": 3}

    monkeypatch.setattr(lane, "priority_lane_run", loop)
    before = _nice()
    assert tasks.run_inbound_rules() == {"processed": 3}
    assert seen["part"] == "rules"
    assert seen["thread"] != threading.get_native_id()
    assert seen["nice"] == min(19, before + lane.RULES_NICE)
    assert _nice() == before  # the worker's next task (the sender loop, perhaps) is not niced


def test_the_sender_loop_is_not_niced(queued, monkeypatch):
    seen = {}
    monkeypatch.setattr(tasks, "priority_lane_run", lambda **kwargs: seen.update(kwargs, nice=_nice()) or {})
    before = _nice()
    tasks.run_priority_sends()
    assert seen == {"part": "sends", "nice": before}


def test_an_error_in_the_rule_loop_reaches_the_task(queued, monkeypatch):
    def loop(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(lane, "priority_lane_run", loop)
    with pytest.raises(RuntimeError, match="went away"):
        tasks.run_inbound_rules()


def test_the_niced_loop_applies_the_rules_to_stored_texts(queued, personas, monkeypatch):
    """The real loop in its thread, on its own connection: a stored text gets its join link."""
    from messaging.conversations import inbound, priority
    from messaging.sms.models import InboundMessage, OutboundMessage

    monkeypatch.setattr(priority, "priority_lane_kick", lambda **kwargs: None)
    monkeypatch.setattr(inbound, "priority_lane_kick", lambda **kwargs: None)
    talent = personas.talent
    InboundMessage.objects.create(talent=talent, message_sid="SM" + "e" * 32, from_number="+14155550199", body="hi")
    monkeypatch.setattr("django.conf.settings.PRIORITY_LANE_LINGER_SECONDS", 0.0)
    result = tasks.run_inbound_rules()
    assert result["processed"] == 1
    message = InboundMessage.objects.get(message_sid="SM" + "e" * 32)
    assert message.action == InboundMessage.Action.JOIN_LINK
    assert OutboundMessage.objects.filter(fan=message.fan, lane=OutboundMessage.Lane.LINK).count() == 1
