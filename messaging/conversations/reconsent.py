"""Asking fans again after a material terms change: one text each with a link to their data page.

Runs on the main queue in batches (it can be thousands of fans: that is bulk work, and the
priority lane stays free for replies). Each text is recorded as an OutboundMessage first.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import Fan
from accounts.tokens import DATA_LINK, preview_links
from consent import texts
from messaging.conversations.priority import priority_message_send
from messaging.sms.models import OutboundMessage
from messaging.sms.parts import sms_parts

BATCH = 200


def reconsent_enqueue(*, fan_ids: list[int]) -> int:
    """Queue the re-consent texts on the main cluster, BATCH fans per task. Returns task count."""
    from django_q.tasks import async_task

    batches = [fan_ids[i : i + BATCH] for i in range(0, len(fan_ids), BATCH)]
    for batch in batches:
        async_task("messaging.reconsent.reconsent_send_batch", batch, task_name=f"reconsent-{batch[0]}-{len(batch)}")
    return len(batches)


def reconsent_send_batch(fan_ids: list[int]) -> int:
    """Text each still-paused, still-subscribed fan a one-time link. Safe to run twice: a fan
    who already got this request since the pause is skipped."""
    sent = 0
    fans = Fan.objects.select_related("talent").filter(
        pk__in=fan_ids, status=Fan.Status.ACTIVE, sharing_reconsent_requested_at__isnull=False
    )
    for fan in fans:
        with transaction.atomic():
            already = OutboundMessage.objects.filter(
                fan=fan,
                kind=OutboundMessage.Kind.SYSTEM,
                created_at__gte=fan.sharing_reconsent_requested_at,
                body__contains="agree again",
            ).exists()
            if already:
                continue
            body = texts.sharing_reconsent(fan.talent, DATA_LINK)  # the link is made as the text leaves
            message = OutboundMessage.objects.create(
                talent=fan.talent,
                fan=fan,
                kind=OutboundMessage.Kind.SYSTEM,
                to_number=str(fan.phone),
                body=body,
                parts=max(1, sms_parts(preview_links(body, talent=fan.talent)).parts),
            )
        priority_message_send(message.pk)
        sent += 1
    return sent
