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

from messaging.services.campaign_send import campaign_send_batches
from messaging.services.campaigns import campaign_dispatch

logger = logging.getLogger(__name__)

DISPATCH_FUNC = "messaging.tasks.dispatch_campaigns"
DISPATCH_SCHEDULE_NAME = "campaigns: dispatcher"
SEND_FUNC = "messaging.tasks.send_campaign"
PRIORITY_SWEEP_FUNC = "messaging.tasks.sweep_priority_messages"
# The periodic work, one Schedule each, run by the main cluster (never one Schedule per campaign).
PERIODIC = {
    DISPATCH_SCHEDULE_NAME: DISPATCH_FUNC,
    "priority lane: sweeper": PRIORITY_SWEEP_FUNC,
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


def enqueue_send(campaign_id: int, *, tasks: int | None = None, sync: bool | None = None) -> None:
    """Start CAMPAIGN_PARALLEL_TASKS send tasks for a campaign (claims keep them from overlapping)."""
    options = {} if sync is None else {"sync": sync}
    for _ in range(tasks or settings.CAMPAIGN_PARALLEL_TASKS):
        async_task(SEND_FUNC, campaign_id, group=f"campaign-{campaign_id}", **options)
        if settings.Q_CLUSTER.get("sync") and sync is None:
            break  # inline (tests): one run already sends everything that is due


IMPORT_FUNC = "messaging.tasks.run_import"


def run_import(batch_id: int) -> dict:
    """Run a queued fan import (a file too big for the request). A redelivered task finds the
    batch completed and changes nothing; an interrupted one resumes (the import is an upsert)."""
    from messaging.models import ImportBatch
    from messaging.services.audience_io import import_batch_run

    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return {"batch": batch_id, "status": "gone"}
    batch = import_batch_run(batch=batch)
    return {"batch": batch.pk, "status": batch.status, "created": batch.created_count, "updated": batch.updated_count}


def enqueue_import(batch_id: int) -> None:
    async_task(IMPORT_FUNC, batch_id, group="imports")


def enqueue_dispatch() -> None:
    async_task(DISPATCH_FUNC)


def sweep_priority_messages() -> dict:
    """Every minute: re-enqueue replies whose task was lost; expired claims become uncertain."""
    from messaging.outbound import priority_messages_reconcile

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
