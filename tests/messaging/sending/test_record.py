"""Recording a batch (record.py's RECORDS table): each outcome kind lands as its row says, guarded
by the claim token, and a status never moves back. Runs the shared record operation through the
sync driver on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from messaging.models import OutboundMessage
from messaging.sending import engine as cs
from messaging.sending.sql import as_datetime
from messaging.sms.backends import SendResult, SmsError
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
S = OutboundMessage.Status


@pytest.fixture
def claimed(personas, monkeypatch):
    """A sending campaign to four fans, all four claimed in one batch."""
    now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    for i in range(4):
        create_fan(personas.talent, f"+1415777{i:04d}")
    campaign = create_campaign(personas.talent, status="scheduled", send_at=now)
    cs.campaign_start(campaign_id=campaign.pk)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    assert batch is not None
    return batch


def _row(batch, i) -> OutboundMessage:
    return OutboundMessage.objects.get(pk=batch.rows[i].id)


def test_a_status_callback_before_the_record_keeps_the_higher_status(claimed):
    OutboundMessage.objects.filter(pk=claimed.rows[0].id).update(status=S.DELIVERED)
    outcomes = [cs.Outcome(r, "sent", result=SendResult(sid=f"SM{r.id}", parts=2)) for r in claimed.rows]
    cs.batch_record(batch=claimed, outcomes=outcomes)
    first, second = _row(claimed, 0), _row(claimed, 1)
    assert first.status == S.DELIVERED and first.provider_sid == f"SM{first.pk}"  # not back to queued
    assert second.status == S.QUEUED and second.parts == 2 and second.lease_until is None


def test_throttled_at_the_last_attempt_gives_up_and_earlier_ones_back_off(claimed, settings):
    settings.CAMPAIGN_MAX_ATTEMPTS = 2
    last, early = claimed.rows[0], claimed.rows[1]
    last.attempts = 1  # one real attempt before this claim; this throttle answer is the second
    throttled = SmsError("too many requests", code="20429", status=429)
    outcomes = [cs.Outcome(last, "retry", error=throttled, called=True), cs.Outcome(early, "retry", called=True)]
    cs.batch_record(batch=claimed, outcomes=outcomes)
    gave_up, later = _row(claimed, 0), _row(claimed, 1)
    assert gave_up.status == S.FAILED and gave_up.error_message == "gave up after repeated throttling"
    assert gave_up.attempts == 2 and later.attempts == 1
    assert later.status == S.PENDING and later.not_before == timezone.now() + dt.timedelta(seconds=5)


def test_unsent_goes_back_and_stopped_is_suppressed(claimed):
    cs.batch_record(
        batch=claimed, outcomes=[cs.Outcome(claimed.rows[0], "unsent"), cs.Outcome(claimed.rows[1], "stopped")]
    )
    unsent, stopped = _row(claimed, 0), _row(claimed, 1)
    assert unsent.status == S.PENDING and unsent.lease_until is None
    assert stopped.status == S.SUPPRESSED and stopped.error_code == "opted_out"


def test_a_row_the_sweeper_took_back_is_not_overwritten(claimed):
    """Rule 4: the record is guarded by the claim token (claimed_at) and the claimed status."""
    taken = claimed.rows[0]
    OutboundMessage.objects.filter(pk=taken.id).update(status=S.PENDING, claimed_at=timezone.now() - dt.timedelta(1))
    error = SmsError("unknown handset", code="30005", status=400, permanent=True)
    cs.batch_record(batch=claimed, outcomes=[cs.Outcome(taken, "failed", error=error)])
    assert _row(claimed, 0).status == S.PENDING and _row(claimed, 0).error_code == ""


def test_as_datetime_reads_both_databases():
    aware = dt.datetime(2026, 12, 1, 14, 0, 0, 500000, tzinfo=dt.UTC)
    assert as_datetime(aware) == aware
    assert as_datetime(aware.replace(tzinfo=None)) == aware  # sqlite3 converter: naive UTC
    assert as_datetime("2026-12-01 14:00:00.500000") == aware  # SQLite text
    assert as_datetime(None) is None
