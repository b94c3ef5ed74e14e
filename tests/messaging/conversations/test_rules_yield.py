"""The rule loop yields to the webhook while a burst saturates the machine (issue 10).

Under a burst the accepted rate is the CPU a text costs the machine; the rule loop's work only
feeds the sender, which leaves at its own rate whatever the loop does. So while the machine has
no idle CPU, the backlog is a burst's, its oldest text is young and the sender has links queued,
the loop sleeps twice as long as each batch took (`lane.DoorFirst`). Each condition on its own
turns the yielding off; STOPs never wait for the loop (the webhook applies them)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.conversations import inbound, lane, priority
from messaging.sms.models import InboundMessage, OutboundMessage


def _stat(path, idle: int, busy: int) -> None:
    # cpu  user nice system idle iowait irq softirq steal
    path.write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n", encoding="ascii")


def test_the_idle_share_is_read_between_two_calls(tmp_path):
    stat = tmp_path / "stat"
    door = lane.DoorFirst()
    door.stat_path = str(stat)
    _stat(stat, idle=1000, busy=1000)
    assert door.idle_share() is None  # the first call has nothing to compare with
    _stat(stat, idle=1010, busy=1190)
    assert door.idle_share() == pytest.approx(0.05)
    _stat(stat, idle=1110, busy=1290)
    assert door.idle_share() == pytest.approx(0.5)
    door.stat_path = str(tmp_path / "missing")  # not Linux: unknown, so never a reason to yield
    assert door.idle_share() is None


def test_never_on_sqlite_or_when_turned_off(db, settings, monkeypatch):
    monkeypatch.setattr(lane.DoorFirst, "idle_share", lambda self: 0.0)
    settings.INBOUND_RULES_YIELD_SECONDS = 0
    assert lane.DoorFirst().should_yield() is False


def _burst(talent, fan, *, texts: int, links: int, age_s: float = 0.0) -> None:
    InboundMessage.objects.bulk_create(
        InboundMessage(talent=talent, message_sid=f"SM{i:032d}", from_number=f"+1415555{i:04d}", body="omg")
        for i in range(texts)
    )
    if age_s:
        InboundMessage.objects.update(received_at=timezone.now() - timezone.timedelta(seconds=age_s))
    OutboundMessage.objects.bulk_create(
        OutboundMessage(talent=talent, fan=fan, to_number=str(fan.phone), body="Join", lane=OutboundMessage.Lane.LINK)
        for _ in range(links)
    )


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("did", "texts", "links", "age_s", "idle", "yields"),
    [
        (0, 600, 1200, 0, 0.01, True),  # a burst, a busy machine, a fed sender: the webhook first
        (280, 40, 1200, 0, 0.01, True),  # a burst the loop keeps up with: its batch took most of it
        (0, 600, 1200, 0, 0.20, False),  # the machine has CPU to spare
        (0, 100, 1200, 0, 0.01, False),  # a busy day, not a burst
        (60, 20, 1200, 0, 0.01, False),  # ... the batch's own texts included
        (0, 600, 1200, 45, 0.01, False),  # the backlog reached its age bound: flat out
        (0, 600, 200, 0, 0.01, False),  # the sender would starve: links first
    ],
)
def test_the_loop_yields_only_in_a_burst_on_a_busy_machine(
    db, personas, settings, monkeypatch, did, texts, links, age_s, idle, yields
):
    settings.INBOUND_RULES_YIELD_SECONDS = 30
    monkeypatch.setattr(lane.DoorFirst, "idle_share", lambda self: idle)
    _burst(personas.talent, personas.fan, texts=texts, links=links, age_s=age_s)
    assert lane.DoorFirst().should_yield(did) is yields


@pytest.mark.django_db(transaction=True)
def test_a_yielding_loop_sleeps_twice_its_batch_and_still_processes_everything(personas, monkeypatch):
    monkeypatch.setattr(priority, "priority_lane_kick", lambda **kwargs: None)
    monkeypatch.setattr(inbound, "priority_lane_kick", lambda **kwargs: None)
    monkeypatch.setattr(lane.DoorFirst, "should_yield", lambda self, did=0: True)
    slept: list[float] = []
    monkeypatch.setattr(lane.time, "sleep", slept.append)
    InboundMessage.objects.bulk_create(
        InboundMessage(talent=personas.talent, message_sid=f"SM{i:032d}", from_number=f"+1415555{i:04d}", body="hi")
        for i in range(3)
    )
    result = lane.priority_lane_run(part="rules", linger_seconds=0.0)
    assert result["processed"] == 3
    assert not InboundMessage.objects.filter(processed_at__isnull=True).exists()
    assert slept and 0 < slept[0] <= lane.RULES_YIELD_PAUSE_MAX  # one pause, after the one batch


@pytest.mark.django_db(transaction=True)
def test_the_sender_loop_never_yields(personas, monkeypatch):
    monkeypatch.setattr(lane.DoorFirst, "should_yield", lambda self, did=0: pytest.fail("the sender loop asked"))
    monkeypatch.setattr(lane, "priority_send_batch", lambda **kwargs: 0)
    assert lane.priority_lane_run(part="sends", linger_seconds=0.0)["claimed"] == 0
