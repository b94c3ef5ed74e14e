"""Putting campaign work on the task queue.

Tasks are named by their dotted paths (strings): the task layer (messaging/tasks.py) sits above the
services that enqueue, so nothing here imports it. The paths are stored in queues and Schedules and
stay stable.
"""

from __future__ import annotations

from django.conf import settings
from django_q.tasks import async_task

DISPATCH_FUNC = "messaging.tasks.dispatch_campaigns"
SEND_FUNC = "messaging.tasks.send_campaign"


def enqueue_send(campaign_id: int, *, tasks: int | None = None, sync: bool | None = None) -> None:
    """Start CAMPAIGN_PARALLEL_TASKS send tasks for a campaign (claims keep them from overlapping)."""
    options = {} if sync is None else {"sync": sync}
    for _ in range(tasks or settings.CAMPAIGN_PARALLEL_TASKS):
        async_task(SEND_FUNC, campaign_id, group=f"campaign-{campaign_id}", **options)
        if settings.Q_CLUSTER.get("sync") and sync is None:
            break  # inline (tests): one run already sends everything that is due


def enqueue_dispatch() -> None:
    async_task(DISPATCH_FUNC)
