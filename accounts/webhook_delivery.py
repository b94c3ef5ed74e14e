"""The outgoing-webhook dispatcher (issue 16): per endpoint, in batches, signed, retried.

One task per endpoint (fancommunity/webhooks_out/tasks.py), never one per event: it claims up to
BATCH due deliveries of that endpoint (select_for_update(skip_locked); the claim pushes
next_attempt_at a lease ahead, so a crashed worker's rows come back by themselves), posts them one
after another over one kept-alive connection, and records each result. Receivers dedup on
webhook-id: a delivery can arrive twice (a worker dying after the POST, before the record).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit
from accounts.models import TeamMember
from accounts.outbox import (
    DISABLE_AFTER,
    RETRY_DELAYS,
    RETRY_FOR,
    RETRY_STEADY,
    WebhookDelivery,
    WebhookEndpoint,
    kick,
)

logger = logging.getLogger(__name__)
BATCH = 50
LEASE = dt.timedelta(minutes=2)  # longer than a batch can take: BATCH x TIMEOUT would be worse, see below
TIMEOUT = (3.05, 10)  # connect, read: a slow receiver must not hold the queue for long
TASK_SECONDS = 50  # one task works this long at most, then the sweeper (every minute) or a kick goes on
S = WebhookDelivery.Status


@dataclass
class DeliverReport:
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    disabled: bool = False
    ids: list[int] = field(default_factory=list)


def next_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed try (1-based)."""
    return RETRY_DELAYS[attempts - 1] if attempts <= len(RETRY_DELAYS) else RETRY_STEADY


def _claim(endpoint_id: int, now: dt.datetime) -> list[WebhookDelivery]:
    with transaction.atomic():
        rows = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(endpoint_id=endpoint_id, status=S.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")[:BATCH]
        )
        if rows:
            WebhookDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(next_attempt_at=now + LEASE)
    return rows


def _post(
    session: requests.Session, endpoint: WebhookEndpoint, delivery: WebhookDelivery
) -> tuple[int | None, str, int]:
    event = delivery.event
    body = event.body()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "fancommunity-webhooks/1",
        "webhook-id": event.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": endpoint.signature_header(event.event_id, timestamp, body),
    }
    started = time.monotonic()
    try:
        # No redirects: a 30x to an internal address would walk around the URL check.
        response = session.post(endpoint.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.Timeout:
        return None, "The endpoint did not answer in time.", int((time.monotonic() - started) * 1000)
    except requests.RequestException as exc:
        return None, f"Could not connect: {type(exc).__name__}.", int((time.monotonic() - started) * 1000)
    latency = int((time.monotonic() - started) * 1000)
    if 200 <= response.status_code < 300:
        return response.status_code, "", latency
    return response.status_code, f"The endpoint answered {response.status_code}.", latency


def endpoint_deliver(
    *, endpoint_id: int, check_url: Callable[[str], str], max_seconds: float = TASK_SECONDS
) -> DeliverReport:
    """Send what is due for one endpoint, batch after batch, for at most `max_seconds`.

    `check_url(url)` says what is wrong with the URL ('' = fine): the task passes netguard's rule
    (fancommunity/webhooks_out/endpoints.url_problem; netguard is top layer, accounts may not import
    it). Required, so no caller can send without it."""
    report = DeliverReport()
    deadline = time.monotonic() + max_seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
            if endpoint is None:
                break
            now = timezone.now()
            rows = _claim(endpoint_id, now)
            if not rows:
                break
            problem = check_url(endpoint.url)  # asked again: a name can be re-pointed at any time
            for delivery in rows:
                if problem:
                    code, error, latency = None, problem, 0
                else:
                    code, error, latency = _post(session, endpoint, delivery)
                if _record(endpoint, delivery, code=code, error=error, latency=latency, report=report):
                    return report  # disabled
    return report


def _record(
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    *,
    code: int | None,
    error: str,
    latency: int,
    report: DeliverReport,
) -> bool:
    """Write one attempt's result; True when the endpoint was disabled by it."""
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_attempt_at": now, "last_status_code": code, "last_latency_ms": latency}
    report.ids.append(delivery.pk)
    if not error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=S.DELIVERED, delivered_at=now, last_error="", **fields
        )
        if endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            endpoint.failing_since = None
        report.delivered += 1
        return False
    retry_at = now + next_delay(attempts)
    give_up = retry_at > delivery.event.created_at + RETRY_FOR
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=S.FAILED if give_up else S.PENDING,
        next_attempt_at=now if give_up else retry_at,
        last_error=error[:300],
        **fields,
    )
    report.failed += 1
    report.given_up += int(give_up)
    if endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
        endpoint.failing_since = now
    elif now - endpoint.failing_since >= DISABLE_AFTER:
        endpoint_disable(endpoint=endpoint, reason="Every delivery failed for 3 days in a row.")
        report.disabled = True
        return True
    return False


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> bool:
    """Stop sending to an endpoint, give up what waits, and tell the talent's owners by email."""
    with transaction.atomic():
        moved = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
            is_active=False, disabled_reason=reason[:200]
        )
        if not moved:
            return False
        WebhookDelivery.objects.filter(endpoint=endpoint, status=S.PENDING).update(
            status=S.FAILED, last_error="The endpoint was disabled."
        )
        audit("webhook_endpoint.disabled", talent=endpoint.talent, obj=endpoint, reason=reason[:200])
    endpoint.is_active = False
    owners = list(
        TeamMember.objects.filter(talent_id=endpoint.talent_id, role=TeamMember.Role.OWNER, user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if owners:
        link = f"{settings.PUBLIC_BASE_URL}/admin/accounts/webhookendpoint/{endpoint.pk}/change/"
        try:
            send_mail(
                f"Webhook endpoint disabled: {endpoint.url}",
                f"{reason}\n\nNothing more is sent to {endpoint.url} until someone turns it on again:\n{link}\n",
                settings.DEFAULT_FROM_EMAIL,
                owners,
            )
        except Exception:  # the disable stands even when the mail cannot leave
            logger.exception("could not mail the owners about disabled webhook endpoint %s", endpoint.pk)
    return True


def delivery_resend(*, delivery: WebhookDelivery, actor) -> None:
    """The console's "send again": the same event (same webhook-id) goes out once more, now."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=S.PENDING, next_attempt_at=timezone.now())
        audit("webhook_delivery.resent", talent=delivery.endpoint.talent, actor=actor, obj=delivery)
    transaction.on_commit(lambda: kick(delivery.endpoint_id))


def endpoints_due(now: dt.datetime | None = None) -> list[int]:
    """Active endpoints with something due: the sweeper starts one dispatcher task for each."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(Q(status=S.PENDING) & Q(next_attempt_at__lte=now), endpoint__is_active=True)
        .order_by()
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
