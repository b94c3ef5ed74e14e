"""The lane's record of a batch never moves a status back (issue 10: system texts must not stay
"queued"). Twilio's "sent" and "delivered" callbacks arrive 50-250 ms after each send and find the
row by its hint, long before a 20-second batch is recorded; the record used to overwrite them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from messaging.conversations import priority
from messaging.sms.backends.base import SmsError
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan

pytestmark = pytest.mark.django_db
S = OutboundMessage.Status


def _claimed(personas, phone: str) -> OutboundMessage:
    fan = create_fan(personas.talent, phone)
    return OutboundMessage.objects.create(
        talent=personas.talent, fan=fan, to_number=phone, body="Join", status=S.CLAIMED, attempts=1,
        lane=OutboundMessage.Lane.LINK, kind=OutboundMessage.Kind.SYSTEM,
    )  # fmt: skip


def test_a_callback_that_came_first_keeps_its_status_and_the_rest_is_recorded(personas):
    delivered, plain, throttled = (_claimed(personas, f"+1415555072{i}") for i in range(3))
    # The callbacks' work, before the batch ends: sid and status from the provider.
    OutboundMessage.objects.filter(pk=delivered.pk).update(provider_sid="SM" + "d" * 32, status=S.DELIVERED)
    rows = [
        priority._Row(delivered, result_sid="SM" + "d" * 32, result_parts=2),
        priority._Row(plain, result_sid="SM" + "e" * 32, result_parts=2),
        priority._Row(throttled, error=SmsError("Too Many Requests", code="20429")),
    ]
    now = timezone.now()
    counts = priority._record(rows, now)
    assert counts == {S.QUEUED: 2, S.PENDING: 1}
    got = {m.pk: m for m in OutboundMessage.objects.all()}
    assert got[delivered.pk].status == S.DELIVERED  # was overwritten with "queued"
    assert (got[delivered.pk].sent_at, got[delivered.pk].parts, got[delivered.pk].lease_until) == (now, 2, None)
    assert (got[plain.pk].status, got[plain.pk].provider_sid) == (S.QUEUED, "SM" + "e" * 32)
    assert got[throttled.pk].status == S.PENDING and got[throttled.pk].error_code == "20429"
    assert got[throttled.pk].not_before == now + dt.timedelta(seconds=2)


class _Deadlock(Exception):
    sqlstate = "40P01"  # psycopg's DeadlockDetected carries it


def test_a_record_rolled_back_by_a_deadlock_is_run_again(personas, monkeypatch):
    """PostgreSQL breaks a deadlock between the record and a group of status callbacks by rolling
    one back (a 3,000-text bench run): the lane's record runs again rather than leaving the batch
    claimed, to end "uncertain"."""
    from django.db import OperationalError

    message = _claimed(personas, "+14155550729")
    record, calls = priority._record, []

    def deadlocked_once(rows, now):
        calls.append(now)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from _Deadlock()
        return record(rows, now)

    monkeypatch.setattr(priority, "_record", deadlocked_once)
    priority._finish([priority._Row(message, result_sid="SM" + "f" * 32, result_parts=1)], "test")
    assert len(calls) == 2
    assert OutboundMessage.objects.get(pk=message.pk).status == S.QUEUED


def test_any_other_database_error_is_not_retried(personas, monkeypatch):
    from django.db import OperationalError

    message = _claimed(personas, "+14155550728")
    calls = []

    def broken(rows, now):
        calls.append(now)
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(priority, "_record", broken)
    with pytest.raises(OperationalError):
        priority._finish([priority._Row(message, result_sid="SM" + "f" * 32, result_parts=1)], "test")
    assert len(calls) == 1
