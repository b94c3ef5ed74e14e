"""The lane hears a STOP as it commits (issue 10, trust: STOP always works, at once).

A link or reply claimed before its fan's STOP used to be stopped by the lane's periodic re-check
only, up to STOP_RECHECK_SECONDS (0.5 s) after the STOP had been answered 200; one left 0.13 s
after its STOP in a 20,000-text bench run. A trigger on the fan table now announces every opt-out
and erasure at commit (NOTIFY fan_gone), the lane listens (accounts/stop_notices.py),
and each send asks what it has heard since its batch read the fans' status. PostgreSQL only (LISTEN
and NOTIFY), on committed transactions (the listener is another connection)."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.db import connection

from accounts.models import Fan
from accounts.stop_notices import NOTICES
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out
from messaging.conversations import priority
from messaging.conversations.stop import inbound_stop
from messaging.privacy.services import fan_erase
from messaging.sms.backends.base import BaseSmsBackend, SendResult
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan

# postgres_only: LISTEN/NOTIFY exist only there (tests/conftest.py skips it on SQLite).
pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _heard(fan_id: int, since: float, wait: float = 3.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if NOTICES.heard_since((fan_id,), since):
            return True
        time.sleep(0.01)
    return False


def test_every_way_a_fan_leaves_is_announced_at_commit_and_nothing_else_is(personas):
    assert NOTICES.start()
    since = time.monotonic()
    stopper = create_fan(personas.talent, "+14155550701")
    erased = create_fan(personas.talent, "+14155550702")
    renamed = create_fan(personas.talent, "+14155550703")
    # The webhook's STOP (plain statements), a new number's STOP, the ORM's opt-out, an erasure.
    inbound_stop(
        talent=personas.talent, sid="SM" + "7" * 32, from_number=str(stopper.phone), body="STOP", payload={},
        language="en",
    )  # fmt: skip
    inbound_stop(
        talent=personas.talent, sid="SM" + "8" * 32, from_number="+14155550704", body="STOP", payload={},
        language="en",
    )  # fmt: skip
    stranger = Fan.objects.get(talent=personas.talent, phone="+14155550704")
    fan_opt_out(fan=personas.fan, evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD))
    fan_erase(fan=erased)
    for fan in (stopper, stranger, personas.fan, erased):
        assert _heard(fan.pk, since), fan
    # A fan who stays reachable is not announced; nor is a second STOP from one already gone.
    before = NOTICES.notices
    Fan.objects.filter(pk=renamed.pk).update(first_name="Renamed", status=Fan.Status.ACTIVE)
    Fan.objects.filter(pk=stopper.pk).update(status=Fan.Status.OPTED_OUT)
    Fan.objects.filter(pk=renamed.pk).update(status=Fan.Status.HELD)
    time.sleep(0.3)
    assert NOTICES.notices == before
    assert not NOTICES.heard_since((renamed.pk,), since)


def test_a_notice_from_before_the_batch_read_its_fans_stops_nothing():
    NOTICES.note(41, at=10.0)
    assert NOTICES.heard_since((41, 42), 9.0) == {41}
    assert NOTICES.heard_since((41, 42), 10.5) == set()  # the batch read the fan's status after it


class StopsTheNextFan(BaseSmsBackend):
    """Sends; while the first text is in flight, the second fan's STOP commits elsewhere."""

    def __init__(self, then_stop: Fan) -> None:
        self.sent: list[str] = []
        self.then_stop = then_stop

    async def send_async(self, message):
        self.sent.append(message.to)
        if len(self.sent) == 1:
            await asyncio.to_thread(_opt_out_in_thread, self.then_stop.pk)
            await asyncio.sleep(0.1)  # room for the notice's delivery
        return SendResult(sid=f"SM{len(self.sent):032d}", parts=1)


def _opt_out_in_thread(fan_id: int) -> None:
    try:
        fan_opt_out(fan=Fan.objects.get(pk=fan_id), evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD))
    finally:
        connection.close()


def _link_rows(talent, fans, read_at: float) -> list[priority._Row]:
    return [
        priority._Row(
            OutboundMessage(
                pk=index + 1, talent=talent, fan=fan, to_number=str(fan.phone), body="Join here",
                lane=OutboundMessage.Lane.LINK, parts=1,
            ),
            body="Join here",
            read_at=read_at,
        )
        for index, fan in enumerate(fans)
    ]  # fmt: skip


@pytest.mark.parametrize("listening", [True, False])
def test_a_link_in_flight_stops_at_its_fans_stop_not_at_the_next_recheck(personas, settings, monkeypatch, listening):
    settings.CAMPAIGN_SEND_CONCURRENCY = 1  # the second text waits for the first send's end (and the STOP in it)
    first = create_fan(personas.talent, "+14155550711")
    second = create_fan(personas.talent, "+14155550712")
    # The periodic re-check would not look again for a minute: only the notice can stop the link.
    monkeypatch.setattr(priority, "STOP_RECHECK_SECONDS", 60.0)
    if listening:
        assert NOTICES.start()
    rows = _link_rows(personas.talent, [first, second], read_at=time.monotonic())
    backend = StopsTheNextFan(then_stop=second)
    asyncio.run(priority._send_all(rows, backend))
    if listening:
        assert backend.sent == [str(first.phone)]
        assert [r.suppressed for r in rows] == [False, True]
    else:  # without the listener the link leaves after its STOP: what this change closes
        assert backend.sent == [str(first.phone), str(second.phone)]


def test_the_lane_starts_listening_before_its_first_claim(personas, settings):
    assert not NOTICES.listening()
    priority.priority_send_batch()
    assert NOTICES.listening()
    NOTICES.stop()
    settings.STOP_NOTICES = False
    priority.priority_send_batch()
    assert not NOTICES.listening()


def test_a_lost_connection_is_reopened_and_the_recheck_covers_the_gap(personas):
    assert NOTICES.start()
    with connection.cursor() as cursor:  # PostgreSQL restarted, a proxy cut it: the listener's backend ends
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s AND pid <> pg_backend_pid()",
            ["LISTEN fan_gone"],
        )
        assert cursor.fetchone() is not None
    deadline = time.monotonic() + 5
    while NOTICES.listening() and time.monotonic() < deadline:
        time.sleep(0.02)
    deadline = time.monotonic() + 5
    while not NOTICES.listening() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert NOTICES.listening()
    since = time.monotonic()
    fan_opt_out(fan=personas.fan, evidence=Evidence(method=ConsentRecord.Method.SMS_KEYWORD))
    assert _heard(personas.fan.pk, since)
