"""Sweep and reconcile: rows whose worker died (lease expired) or whose send was uncertain.

Found at the provider -> queued with its sid. Not found -> pending again (sent by a later batch).
Provider cannot tell -> uncertain, shown in the report, never resent blindly (rule 3, engine.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import outbox
from accounts.tokens import CODE, DATA_LINK, JOIN_LINK
from messaging.campaigns.models import Campaign, transition_from
from messaging.sms.backends import BaseSmsBackend, SmsError, get_backend
from messaging.sms.models import OutboundMessage

logger = logging.getLogger(__name__)

S = OutboundMessage.Status
UNKNOWN = object()
LOOKUP_CONCURRENCY = 50


def provider_lookup(backend: BaseSmsBackend, *, to: str, body: str, since: dt.datetime):
    """The provider's sid for a message to `to` with `body` created since `since`; None if there is
    none (safe to send again); UNKNOWN when this backend cannot tell (the row stays uncertain)."""
    return asyncio.run(_lookup_many(backend, [(to, body, since)]))[0]


async def _lookup_many(backend: BaseSmsBackend, wanted: list[tuple[str, str, dt.datetime]]) -> list:
    find_async = getattr(backend, "find_message_async", None)
    find = getattr(backend, "find_message", None)
    if find_async is None and find is None:
        return [UNKNOWN] * len(wanted)
    limit = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def one(to: str, body: str, since: dt.datetime):
        async with limit:
            try:
                if find_async is not None:
                    found = await find_async(to=to, body=body, since=since)
                else:
                    assert find is not None  # one of the two was found, or we returned above
                    found = await asyncio.to_thread(find, to=to, body=body, since=since)
            except SmsError as exc:  # provider unreachable: try again at the next sweep
                logger.warning("reconcile lookup failed for a row to %s: %s", to, exc)
                return UNKNOWN
            return found.sid if found is not None else None

    try:
        return await asyncio.gather(*(one(*w) for w in wanted))
    finally:
        await backend.aclose()


def campaign_sweep(
    *,
    campaign_id: int | None = None,
    now: dt.datetime | None = None,
    backend: BaseSmsBackend | None = None,
    limit: int = 1000,
) -> dict[str, int]:
    """Reconcile rows whose lease expired (their worker died) and uncertain rows old enough.

    Found at the provider -> queued with its sid. Not found -> pending again (sent by a later
    batch). Provider cannot tell -> uncertain, shown in the report, never resent blindly.
    Lookups run concurrently outside any transaction; each result is applied with a conditional
    UPDATE that still requires the row to be in the state it was looked up in, so a concurrent
    sweeper or a fresh claim is never overwritten.
    """
    now = now or timezone.now()
    backend = backend or get_backend()
    reconcile_before = now - dt.timedelta(seconds=settings.CAMPAIGN_RECONCILE_AFTER_SECONDS)
    stale = Q(status=S.CLAIMED, lease_until__lt=now) | Q(status=S.UNCERTAIN, updated_at__lt=reconcile_before)
    # A text whose link was made as it left (accounts/tokens.py placeholders) was sent with a body
    # that is stored nowhere, so the provider's copy cannot be matched: "not found" would resend it.
    # Such rows stay uncertain for a person, as the lane's own sweeper leaves them.
    qs = OutboundMessage.objects.filter(stale).exclude(
        Q(campaign__isnull=True) & (Q(body__contains=JOIN_LINK) | Q(body__contains=DATA_LINK) | Q(body__contains=CODE))
    )
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    rows = list(qs.order_by("id").values("id", "to_number", "body", "claimed_at", "created_at", "status")[:limit])
    counts = {"found": 0, "resend": 0, "uncertain": 0}
    if not rows:
        return counts
    sids = asyncio.run(
        _lookup_many(backend, [(r["to_number"], r["body"], r["claimed_at"] or r["created_at"]) for r in rows])
    )
    for row, sid in zip(rows, sids, strict=True):
        same = OutboundMessage.objects.filter(pk=row["id"], status=row["status"], claimed_at=row["claimed_at"]).filter(
            stale
        )
        if sid is UNKNOWN:
            counts["uncertain"] += same.update(status=S.UNCERTAIN, lease_until=None, updated_at=now)
        elif sid:
            counts["found"] += same.update(
                status=S.QUEUED, provider_sid=sid, sent_at=now, lease_until=None, updated_at=now
            )
        else:
            counts["resend"] += same.update(status=S.PENDING, lease_until=None, updated_at=now)
    return counts


def campaign_maybe_complete(*, campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Mark a sending campaign completed once no row is waiting, claimed or uncertain."""
    now = now or timezone.now()
    busy = OutboundMessage.objects.filter(campaign_id=campaign_id, status__in=[S.PENDING, S.CLAIMED, S.UNCERTAIN])
    if busy.exists():
        return False
    with transaction.atomic():
        moved = Campaign.objects.filter(pk=campaign_id, status__in=transition_from("complete")).update(
            status=Campaign.Status.COMPLETED, finished_at=now, updated_at=now
        )
        if moved:  # outgoing webhooks (issue 16), in the same transaction as the status change
            campaign = Campaign.objects.only("pk", "talent_id", "name").get(pk=campaign_id)
            data = {"id": campaign.pk, "name": campaign.name, "status": "completed", "finished_at": outbox.iso(now)}
            outbox.webhook_emit(talent_id=campaign.talent_id, type="campaign.finished", data={"campaign": data})
    return bool(moved)


def campaign_has_due_rows(*, campaign_id: int, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return OutboundMessage.objects.filter(campaign_id=campaign_id, status=S.PENDING, not_before__lte=now).exists()
