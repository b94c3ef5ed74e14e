"""What a send task runs: batches of one campaign until it is done or the budget is spent."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.tasks import async_task

from messaging.campaigns.queue import SEND_FUNC
from messaging.sending.engine import (
    RunReport,
    _add_counts,
    batch_record,
    batch_send,
    campaign_claim_batch,
    campaign_has_due_rows,
    campaign_maybe_complete,
    campaign_sweep,
)
from messaging.sending.pipeline import run_pipeline
from messaging.sms.backends import BaseSmsBackend, get_backend
from messaging.sms.models import OutboundMessage

S = OutboundMessage.Status


def campaign_send_batches(
    *,
    campaign_id: int,
    budget_seconds: float | None = None,
    backend: BaseSmsBackend | None = None,
    hand_over: Callable[[], bool] | None = None,
) -> RunReport:
    """Claim, send and record batches of one campaign until it is done or the budget is spent.

    `hand_over`: queue the next task as soon as claiming stops at the budget (pipeline.py), not
    after the batches on the wire are done; `report.handed_over` says it did."""
    backend = backend or get_backend()
    budget = settings.CAMPAIGN_TASK_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    report = RunReport()
    campaign_sweep(campaign_id=campaign_id, backend=backend)
    # Inside a caller's transaction (the test suite) the rows are visible on this connection only,
    # so batches run one after another here instead of through the pipeline's database thread.
    pipelined = not connection.in_atomic_block
    while True:
        run_started = timezone.now()
        if pipelined:
            run_pipeline(
                campaign_id=campaign_id, backend=backend, deadline=deadline, report=report, hand_over=hand_over
            )
        else:
            _sequential(campaign_id=campaign_id, backend=backend, deadline=deadline, report=report)
        if time.monotonic() > deadline:
            report.more_due = campaign_has_due_rows(campaign_id=campaign_id)
            if not report.more_due and hand_over is not None and not report.handed_over:
                # Rows still claimed by a task that handed over to us may come back unsent after
                # we end: someone must be there to send them (hand_over_send, the same rule).
                report.more_due = _others_may_hand_back(campaign_id)
            break
        # Nothing due now. Rows claimed by a dead worker come back when their lease expires:
        # wait for that here if it is soon, rather than leaving them for the next dispatch.
        soonest = (
            OutboundMessage.objects.filter(campaign_id=campaign_id, status=S.CLAIMED)
            .order_by("lease_until")
            .values_list("lease_until", flat=True)
            .first()
        )
        if soonest is None:
            if _handed_back_since(campaign_id, run_started):
                # Handed back while we ran by the task that handed over to us (rows past its
                # booking come back unsent when its last batches are recorded): ending here
                # would leave them to the dispatcher's revival, minutes later. Send them.
                continue
            break
        wait = (soonest - timezone.now()).total_seconds() + 0.5
        if time.monotonic() + wait > deadline:
            report.more_due = True
            break
        time.sleep(max(0.1, wait))
        campaign_sweep(campaign_id=campaign_id, backend=backend)
    campaign_maybe_complete(campaign_id=campaign_id)
    return report


def _handed_back_since(campaign_id: int, since) -> bool:
    """Due rows of the campaign that went back to pending after `since` (not rows that were due
    all along and could not be claimed: every sender held back, a cap; those wait as before)."""
    return OutboundMessage.objects.filter(
        campaign_id=campaign_id, status=S.PENDING, not_before__lte=timezone.now(), updated_at__gt=since
    ).exists()


def _others_may_hand_back(campaign_id: int) -> bool:
    """Rows of the campaign claimed by a live task: after a hand-over its last batches may put
    some back unsent (past its booking), so the chain of tasks must not end on "nothing due".
    Never inline (sync): there the next task would run inside this one."""
    if settings.Q_CLUSTER.get("sync"):
        return False
    return OutboundMessage.objects.filter(campaign_id=campaign_id, status=S.CLAIMED).exists()


def hand_over_send(campaign_id: int) -> bool:
    """A send task out of time queues its successor before its last batches are done (issue 17):
    the successor's claims wait for room on the lanes' clocks and book right behind them, so the
    sender does not idle while one task winds down and the next starts up (sweep, connection,
    first claim). One successor per task, as before, and only with rows due or claimed (they may
    come back unsent). Inline (sync: the
    tests) it would run inside the task it follows: that task re-enqueues at its end instead."""
    if settings.Q_CLUSTER.get("sync"):
        return False
    if not campaign_has_due_rows(campaign_id=campaign_id) and not _others_may_hand_back(campaign_id):
        return False
    async_task(SEND_FUNC, campaign_id, group=f"campaign-{campaign_id}")
    return True


def _sequential(*, campaign_id: int, backend: BaseSmsBackend, deadline: float, report: RunReport) -> None:
    while True:
        batch = campaign_claim_batch(campaign_id=campaign_id)
        if batch is None:
            return
        report.batches += 1
        if batch.rows:
            _add_counts(report, batch_record(batch=batch, outcomes=batch_send(batch=batch, backend=backend)))
        elif batch.held:
            time.sleep(0.25)  # a pooled talent's lanes with due rows are booked ahead: wait for room
        if time.monotonic() > deadline:
            return
