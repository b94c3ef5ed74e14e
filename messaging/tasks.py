"""django-q2 tasks of the send path. Thin: take ids, call a service, enqueue follow-ups on commit.

Any task may run twice (ORM broker redelivery) or be lost (Redis broker, SIGKILL): the services
are idempotent (claims, unique rows, forward-only statuses) and the periodic dispatcher revives
whatever went quiet.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

from messaging.audience.imports import IMPORT_TASK as IMPORT_FUNC
from messaging.audience.imports import import_batch_run, staged_sweep
from messaging.campaigns.queue import DISPATCH_FUNC, SEND_FUNC, enqueue_dispatch, enqueue_send
from messaging.conversations.lane import priority_lane_run, priority_messages_reconcile
from messaging.models import ImportBatch
from messaging.sending.dispatch import campaign_dispatch
from messaging.sending.worker import campaign_send_batches

logger = logging.getLogger(__name__)

DISPATCH_SCHEDULE_NAME = "campaigns: dispatcher"
PRIORITY_SWEEP_FUNC = "messaging.tasks.sweep_priority_messages"
# The periodic work, one Schedule each, run by the main cluster (never one Schedule per campaign).
PERIODIC = {
    DISPATCH_SCHEDULE_NAME: DISPATCH_FUNC,
    "priority lane: sweeper": PRIORITY_SWEEP_FUNC,
    "audience: staged imports sweeper": "messaging.tasks.sweep_staged_imports",
}


def dispatch_campaigns() -> dict:
    """Every minute: start due campaigns, sweep dead leases, revive stalled sends."""
    result = campaign_dispatch()
    for campaign_id in result["started"] + result["revive"]:
        enqueue_send(campaign_id)
    return result


def send_campaign(campaign_id: int) -> dict:
    """Send batches of one campaign for up to CAMPAIGN_TASK_SECONDS, then hand over to a fresh task.

    Handing over keeps each task well inside the queue's timeout, lets other campaigns' tasks in
    between, and means a killed worker loses at most one budget of work (its rows' leases expire
    and are reconciled).
    """
    report = campaign_send_batches(campaign_id=campaign_id)
    if report.more_due:
        transaction.on_commit(lambda: async_task(SEND_FUNC, campaign_id, group=f"campaign-{campaign_id}"))
    return {"batches": report.batches, "sent": report.sent, "more_due": report.more_due, **report.counts}


def run_import(batch_id: int) -> dict:
    """Run a queued fan import (a file too big for the request). A redelivered task finds the
    batch completed and changes nothing; an interrupted one resumes (the import is an upsert)."""
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return {"batch": batch_id, "status": "gone"}
    batch = import_batch_run(batch=batch)
    return {"batch": batch.pk, "status": batch.status, "created": batch.created_count, "updated": batch.updated_count}


def enqueue_import(batch_id: int) -> None:
    async_task(IMPORT_FUNC, batch_id, group="imports")


def run_priority_lane() -> dict:
    """The priority lane: apply the rules to stored inbound texts and send one-to-one texts in
    batches at each sender's pace, until both are drained (then it hands over or ends)."""
    return priority_lane_run()


def run_inbound_rules() -> dict:
    """The priority lane's rule processor loop (stored inbound texts -> actions, links, replies)."""
    return priority_lane_run(part="rules")


def run_priority_sends() -> dict:
    """The priority lane's sender loop (one-to-one texts at each sender's pace, compliance first)."""
    return priority_lane_run(part="sends")


def sweep_priority_messages() -> dict:
    """Every minute: re-enqueue replies whose task was lost; expired claims become uncertain."""
    return priority_messages_reconcile()


def ensure_periodic_schedules(**kwargs) -> None:
    """Create the periodic Schedules, once each (idempotent; run after every migrate)."""
    from django_q.models import Schedule

    for name, func in PERIODIC.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
        )


def resume_on_worker_start(**kwargs) -> None:
    """A qcluster worker just started: resume sending campaigns now instead of after the broker's
    retry period (tasks in flight when the previous cluster was killed come back only then)."""
    from django.db import close_old_connections
    from django_q.conf import Conf

    if settings.Q_CLUSTER.get("sync"):
        return  # inline mode runs every task through a throwaway "worker": nothing to resume
    if Conf.CLUSTER_NAME != Conf.PREFIX:
        return  # the priority cluster: its queue is for replies, never for blasts
    try:
        import datetime as dt

        result = campaign_dispatch(stalled_after=dt.timedelta(0))
        for campaign_id in result["started"] + result["revive"]:
            enqueue_send(campaign_id, tasks=1)
    except Exception:  # never keep a worker from starting
        logger.exception("resume on worker start failed")
    finally:
        close_old_connections()


# Re-exported for callers of the task layer (the enqueue helpers live beside the services that use them).
__all__ = [
    "DISPATCH_FUNC",
    "IMPORT_FUNC",
    "SEND_FUNC",
    "dispatch_campaigns",
    "enqueue_dispatch",
    "enqueue_import",
    "enqueue_send",
    "ensure_periodic_schedules",
    "resume_on_worker_start",
    "run_import",
    "run_inbound_rules",
    "run_priority_lane",
    "run_priority_sends",
    "send_campaign",
    "sweep_priority_messages",
]


def sweep_staged_imports() -> dict:
    """Every minute: delete uploads staged for an import nobody confirmed within a day (issue 12)."""
    return {"removed": staged_sweep()}
