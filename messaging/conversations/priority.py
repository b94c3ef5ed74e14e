"""One-to-one texts (keyword replies, signup codes and confirmations, team replies) on the
priority lane: their own django-q2 queue (settings.Q_PRIORITY_CLUSTER), served by its own
qcluster process, so a blast queued on the main cluster cannot delay them.

The row is written in the caller's transaction; the task is enqueued on commit (a rolled-back
signup sends nothing). The task claims the row with a conditional UPDATE before sending, so a
task delivered twice (ORM broker, at-least-once) sends once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Fan, Talent
from messaging.sms.backends import SmsError, SmsMessage, get_backend
from messaging.sms.models import OutboundMessage

logger = logging.getLogger(__name__)

_LEASE = dt.timedelta(seconds=90)
_RETRY_DELAYS = (1.0, 3.0)  # throttled by the provider: nothing was created, try again soon


def priority_message_queue(
    *,
    talent: Talent,
    to: str,
    body: str,
    fan: Fan | None = None,
    kind: str = OutboundMessage.Kind.SYSTEM,
    sent_by=None,
) -> OutboundMessage:
    """Record a text and send it on the priority lane after the current transaction commits."""
    message = OutboundMessage.objects.create(
        talent=talent,
        fan=fan,
        kind=kind,
        to_number=to,
        body=body,
        status=OutboundMessage.Status.PENDING,
        sent_by=sent_by if getattr(sent_by, "is_authenticated", False) else None,
    )
    transaction.on_commit(lambda: priority_message_enqueue(message_id=message.pk))
    return message


def priority_message_enqueue(*, message_id: int) -> None:
    from django_q.tasks import async_task

    async_task(
        "messaging.outbound.priority_message_send",
        message_id,
        cluster=settings.Q_PRIORITY_CLUSTER,
        task_name=f"priority-sms-{message_id}",
    )


def priority_message_send(message_id: int) -> str:
    """The task: claim the row, send it, record the provider's answer. Returns the final status."""
    now = timezone.now()
    claimed = OutboundMessage.objects.filter(pk=message_id, status=OutboundMessage.Status.PENDING).update(
        status=OutboundMessage.Status.CLAIMED, attempts=F("attempts") + 1, lease_until=now + _LEASE, updated_at=now
    )
    if not claimed:
        return "not-pending"  # sent (or being sent) by another delivery of this task
    message = OutboundMessage.objects.select_related("talent", "fan").get(pk=message_id)
    if message.kind == OutboundMessage.Kind.REPLY and (message.fan is None or message.fan.status != Fan.Status.ACTIVE):
        # A team reply to someone who has opted out since it was written must not leave.
        return _finish(message, OutboundMessage.Status.SUPPRESSED, error_message="fan is not active")
    talent = message.talent
    sms = SmsMessage(
        to=message.to_number,
        body=message.body,
        from_=str(talent.sender_number) if talent.sender_number else "",
        messaging_service_sid=talent.messaging_service_sid,
    )
    backend = get_backend()
    for delay in (*_RETRY_DELAYS, None):
        try:
            result = backend.send(sms)
        except SmsError as exc:
            if exc.uncertain:
                # The provider may have accepted it: never resend blindly (a duplicate SMS).
                return _finish(message, OutboundMessage.Status.UNCERTAIN, error=exc)
            if exc.permanent or delay is None:
                return _finish(message, OutboundMessage.Status.FAILED, error=exc)
            logger.info("priority sms %s throttled (%s), retrying in %ss", message_id, exc.code, delay)
            time.sleep(delay)
            continue
        message.provider_sid = result.sid
        message.parts = result.parts or message.parts
        message.sent_at = timezone.now()
        return _finish(message, OutboundMessage.Status.QUEUED)
    raise AssertionError("unreachable")


def _finish(message: OutboundMessage, status: str, *, error: SmsError | None = None, error_message: str = "") -> str:
    message.status = status
    message.lease_until = None
    if error is not None:
        message.error_code = error.code[:16]
        message.error_message = str(error)[:300]
    elif error_message:
        message.error_message = error_message[:300]
    message.save(
        update_fields=[
            "status",
            "lease_until",
            "provider_sid",
            "parts",
            "sent_at",
            "error_code",
            "error_message",
            "updated_at",
        ]
    )
    return status


def priority_messages_reconcile(*, stale_after: dt.timedelta = dt.timedelta(minutes=2)) -> dict[str, int]:
    """Periodic sweeper for what a crash left between commit and send.

    A pending row older than `stale_after` lost its task (process died after commit, before the
    enqueue; or a Redis broker dropped it): enqueue it again; the claim makes a duplicate task
    harmless. A claimed row whose lease ran out may or may not have reached the provider:
    marked uncertain for a human, never resent blindly (a duplicate SMS is the worse failure).
    """
    now = timezone.now()
    one_to_one = [OutboundMessage.Kind.SYSTEM, OutboundMessage.Kind.REPLY]
    stale = list(
        OutboundMessage.objects.filter(
            campaign__isnull=True,
            kind__in=one_to_one,
            status=OutboundMessage.Status.PENDING,
            created_at__lt=now - stale_after,
        ).values_list("pk", flat=True)[:500]
    )
    for message_id in stale:
        priority_message_enqueue(message_id=message_id)
    expired = OutboundMessage.objects.filter(
        campaign__isnull=True, kind__in=one_to_one, status=OutboundMessage.Status.CLAIMED, lease_until__lt=now
    ).update(status=OutboundMessage.Status.UNCERTAIN, lease_until=None, updated_at=now)
    return {"requeued": len(stale), "uncertain": expired}
