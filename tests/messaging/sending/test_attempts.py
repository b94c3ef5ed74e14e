"""Only a real provider attempt counts (issue 17): a claim lost with its worker (SIGKILL), a batch
handed back unsent as its lease ran out, or a request that never left must not use up a row's
attempts, or a blast that survived a few crashes gives fans up unsent ("gave up after repeated
throttling" after one throttle)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from messaging.models import OutboundMessage
from messaging.sending import engine as cs
from messaging.sms.backends.base import SmsError
from tests.factories import create_fan, create_talent
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
S = OutboundMessage.Status
THROTTLED = SmsError("too many requests", code="20429", status=429)


class Clock:
    """timezone.now() that the test moves forward (past leases, past backoffs)."""

    def __init__(self) -> None:
        self.now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(timezone, "now", c)
    return c


def _one_fan_campaign(clock):
    talent = create_talent("attempts")
    fan = create_fan(talent, "+14157770001")
    campaign = create_campaign(talent, status="scheduled", send_at=clock.now)
    cs.campaign_start(campaign_id=campaign.pk)
    row = OutboundMessage.objects.get(campaign=campaign, fan=fan)
    return campaign, row


def _lose_a_claim(campaign, backend, clock) -> None:
    """A worker claims the row and dies (SIGKILL) before it sends; the sweeper takes it back."""
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    assert batch is not None and len(batch.rows) == 1
    clock.advance(settings.CAMPAIGN_LEASE_SECONDS + 1)
    assert cs.campaign_sweep(campaign_id=campaign.pk, backend=backend)["resend"] == 1


def test_claims_lost_to_crashes_do_not_use_up_the_attempts(backend, clock, settings):
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    campaign, row = _one_fan_campaign(clock)
    for _ in range(settings.CAMPAIGN_MAX_ATTEMPTS + 1):  # more crashes than attempts allowed
        _lose_a_claim(campaign, backend, clock)
    # Now a live worker gets one throttle answer per try of its batch: one attempt, not the last.
    backend.fail(row.to_number, THROTTLED, THROTTLED, THROTTLED)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    cs.batch_record(batch=batch, outcomes=cs.batch_send(batch=batch, backend=backend))
    row.refresh_from_db()
    assert row.status == S.PENDING, row.error_message  # put back with a backoff, not given up
    assert row.attempts == 1 and row.not_before > clock.now
    clock.advance(600)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    cs.batch_record(batch=batch, outcomes=cs.batch_send(batch=batch, backend=backend))
    row.refresh_from_db()
    assert row.status == S.QUEUED and row.attempts == 2  # the two real attempts, not six claims
    assert [m.to for m in backend.sent] == [row.to_number]  # reached the fan, once


def test_real_provider_attempts_still_give_up(backend, clock, settings):
    """The limit still holds for what the provider refused: the fix must not retry forever."""
    settings.CAMPAIGN_MAX_ATTEMPTS = 2
    campaign, row = _one_fan_campaign(clock)
    backend.fail(row.to_number, *[THROTTLED] * 6)
    for _ in range(2):
        _lose_a_claim(campaign, backend, clock)
        batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
        cs.batch_record(batch=batch, outcomes=cs.batch_send(batch=batch, backend=backend))
        clock.advance(600)
    row.refresh_from_db()
    assert row.status == S.FAILED and row.error_message == "gave up after repeated throttling"
    assert row.attempts == 2 and backend.sent == []


def test_unsent_and_unreached_outcomes_are_not_attempts(backend, clock):
    campaign, row = _one_fan_campaign(clock)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    (claimed,) = batch.rows
    cs.batch_record(batch=batch, outcomes=[cs.Outcome(claimed, "unsent")])  # lease ran out first
    row.refresh_from_db()
    assert row.status == S.PENDING and row.attempts == 0
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    refused = SmsError("connection refused")  # the request never left
    cs.batch_record(batch=batch, outcomes=[cs.Outcome(batch.rows[0], "retry", error=refused)])
    row.refresh_from_db()
    assert row.status == S.PENDING and row.attempts == 0
    clock.advance(600)
    batch = cs.campaign_claim_batch(campaign_id=campaign.pk)
    cs.batch_record(batch=batch, outcomes=[cs.Outcome(batch.rows[0], "retry", error=THROTTLED, called=True)])
    row.refresh_from_db()
    assert row.attempts == 1


def test_a_campaign_started_at_a_workers_start_gets_all_its_parallel_tasks(monkeypatch, settings):
    """Issue 17, the ORM-broker split: a campaign that a qcluster worker's start-up started got one
    send task, so a blast that fits one task's budget never reached a second cluster."""
    from messaging import tasks

    monkeypatch.setitem(settings.Q_CLUSTER, "sync", False)
    settings.CAMPAIGN_PARALLEL_TASKS = 8
    queued: list[tuple[int, int | None]] = []
    monkeypatch.setattr(tasks, "campaign_dispatch", lambda **kw: {"started": [7], "revive": [9]})
    monkeypatch.setattr(tasks, "enqueue_send", lambda campaign_id, tasks=None: queued.append((campaign_id, tasks)))
    tasks.resume_on_worker_start()
    assert queued == [(7, None), (9, 1)]  # None: CAMPAIGN_PARALLEL_TASKS, as the dispatcher does
