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
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts import outbox
from accounts.models import Talent
from accounts.tokens import CODE, DATA_LINK, JOIN_LINK
from messaging.campaigns.models import Campaign, transition_from
from messaging.sending.models import FanCarrier, Sender, SenderDailyCount
from messaging.sending.senders import Pool, build_pool, pacific_day
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
                # No fan's number in the log (the redaction filter would catch it; better not to rely on it).
                logger.warning("reconcile lookup failed for a row: %s", exc)
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
    fields = ("id", "to_number", "body", "claimed_at", "created_at", "status", "talent_id", "campaign_id", "fan_id")
    rows = list(qs.order_by("id").values(*fields, "parts")[:limit])
    counts = {"found": 0, "resend": 0, "uncertain": 0}
    if not rows:
        return counts
    sids = asyncio.run(
        _lookup_many(backend, [(r["to_number"], r["body"], r["claimed_at"] or r["created_at"]) for r in rows])
    )
    caps = _CapBook()
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
            # Never reached a carrier: it goes back to pending and its parts go back to the daily
            # cap the claim booked them under, in the same transaction as the conditional UPDATE,
            # so a row is given back once however many sweepers race (only one UPDATE moves it).
            with transaction.atomic():
                moved = same.update(status=S.PENDING, lease_until=None, updated_at=now)
                if moved:
                    caps.give_back(row)
            counts["resend"] += moved
    return counts


class _CapBook:
    """Gives a swept row's parts back to the daily cap its claim counted them under (record.py's
    cap_refund_statements does the same for rows a live worker hands back).

    The row keeps no lane, so its cap is found the way the claim found it: the talent's pool as it
    is now, the fan's sender by fan id and carrier (Pool.lane_for). The refund goes to the claim's
    Pacific day and never below zero. Talents' pools are read once per sweep."""

    def __init__(self) -> None:
        self.pools: dict[int, Pool] = {}

    def pool(self, talent_id: int) -> Pool:
        if talent_id not in self.pools:
            talent = Talent.objects.get(pk=talent_id)
            self.pools[talent_id] = build_pool(talent, list(Sender.objects.filter(talent_id=talent_id)))
        return self.pools[talent_id]

    def give_back(self, row: dict) -> None:
        if row["campaign_id"] is None or row["claimed_at"] is None:
            return  # only campaign claims count against daily caps
        pool = self.pool(row["talent_id"])
        if not pool.caps or not pool.lanes:
            return
        carrier = None
        if pool.by_carrier and row["fan_id"] is not None:
            carrier = FanCarrier.objects.filter(fan_id=row["fan_id"]).values_list("carrier", flat=True).first()
        lane = pool.lane_for(row["fan_id"], carrier)
        if not lane.cap_key:
            return
        SenderDailyCount.objects.filter(
            talent_id=row["talent_id"], cap_key=lane.cap_key, day=pacific_day(row["claimed_at"])
        ).update(parts=Greatest(F("parts") - max(1, row["parts"] or 1), 0))


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
