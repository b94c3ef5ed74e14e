"""Thin tasks of the outgoing webhooks (issue 16): one dispatcher task per endpoint, never per event."""

from __future__ import annotations

from dataclasses import asdict

from django_q.tasks import async_task

from accounts.outbox import DELIVER_TASK
from accounts.webhook_delivery import endpoint_deliver, endpoints_due
from fancommunity.webhooks_out.endpoints import url_problem


def deliver_webhooks(endpoint_id: int) -> dict:
    """Send what is due for one endpoint, in batches, for up to a task's time (claims make a duplicate harmless)."""
    return asdict(endpoint_deliver(endpoint_id=endpoint_id, check_url=url_problem))


def dispatch_webhooks() -> list[int]:
    """Every minute: start a dispatcher for each endpoint with deliveries due (retries, lost kicks)."""
    due = endpoints_due()
    for endpoint_id in due:
        async_task(DELIVER_TASK, endpoint_id, group=f"webhooks-{endpoint_id}")
    return due
