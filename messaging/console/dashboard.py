"""Figures for the console's front page: one card per talent the user works for.

Every query is bounded by an index ((talent, status), (talent, joined_at), the inbox index) or by a
time window, so the page stays fast at a million fans.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from accounts import current_talent, permissions
from accounts.models import Fan, Talent
from messaging.conversations.inbound import inbound_backlog
from messaging.models import Campaign, InboundMessage, OutboundMessage

WINDOW_DAYS = 7


@dataclass
class TalentCard:
    talent: Talent
    fans_by_status: dict[str, int]
    joined_recently: int
    opted_out_recently: int
    inbox_waiting: int
    replies_recently: int
    median_response_minutes: float | None
    delivery: dict[str, int]
    parts_sent: int
    backlog: dict = field(default_factory=dict)  # the celebrity moment: see _backlog
    recent_campaigns: list[Campaign] = field(default_factory=list)

    @property
    def active(self) -> int:
        return self.fans_by_status.get(Fan.Status.ACTIVE, 0)

    @property
    def delivery_rate(self) -> float | None:
        final = sum(self.delivery.get(s, 0) for s in ("delivered", "undelivered", "failed"))
        return round(100 * self.delivery.get("delivered", 0) / final, 1) if final else None


def talent_cards(user, *, now: dt.datetime | None = None, request=None) -> list[TalentCard]:
    """Cards of the user's talents; with a request, of its current talent only (one at a time)."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=WINDOW_DAYS)
    ids = permissions.talent_ids(user, "view")
    if request is not None:
        ids = current_talent.narrow(request, ids)
    talents = Talent.objects.filter(is_active=True)
    if ids is not None:
        talents = talents.filter(id__in=ids)
    return [_card(talent, since) for talent in talents.order_by("display_name")[:20]]


def _card(talent: Talent, since: dt.datetime) -> TalentCard:
    fans = Fan.objects.filter(talent=talent)
    by_status = dict(fans.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    inbound = InboundMessage.objects.filter(talent=talent)
    answered = inbound.filter(answered_at__isnull=False, received_at__gte=since).annotate(
        wait=F("answered_at") - F("received_at")
    )
    waits = [row.total_seconds() / 60 for row in answered.values_list("wait", flat=True)[:2000] if row is not None]
    outbound = OutboundMessage.objects.filter(talent=talent, created_at__gte=since)
    delivery_rows = outbound.order_by().values("status").annotate(n=Count("id"), segs=Sum("parts"))
    delivery = {row["status"]: row["n"] for row in delivery_rows}
    parts_sent = sum(
        row["segs"] or 0 for row in delivery_rows if row["status"] not in ("pending", "suppressed", "cancelled")
    )
    return TalentCard(
        talent=talent,
        fans_by_status=by_status,
        joined_recently=fans.filter(joined_at__gte=since).count(),
        opted_out_recently=fans.filter(Q(opted_out_at__gte=since), status=Fan.Status.OPTED_OUT).count(),
        inbox_waiting=inbound.filter(needs_reply=True, answered_at__isnull=True).count(),
        replies_recently=inbound.filter(received_at__gte=since).count(),
        median_response_minutes=round(statistics.median(waits), 1) if waits else None,
        delivery=delivery,
        parts_sent=parts_sent,
        recent_campaigns=list(Campaign.objects.filter(talent=talent).order_by("-created_at")[:5]),
        backlog=_backlog(talent),
    )


def _backlog(talent: Talent) -> dict:
    """What a burst left waiting: texts the rule processor has not read yet (and how old the oldest
    is), one-to-one replies queued on the priority lane, what they will cost and how long they
    take at the sender's pace. Both lookups walk small partial indexes (only waiting rows)."""
    unread = inbound_backlog(talent=talent)
    queued = OutboundMessage.objects.filter(talent=talent, campaign__isnull=True, status="pending").aggregate(
        n=Count("id"), parts=Sum("parts")
    )
    parts = queued["parts"] or 0
    return {
        "unread": unread["count"],
        "oldest_seconds": unread["oldest_seconds"],
        "replies": queued["n"],
        "parts": parts,
        "cost": round(parts * settings.SMS_SEGMENT_PRICE, 2),
        "drain_seconds": round(parts / max(talent.parts_per_second, 1)),
        "rate": talent.parts_per_second,
    }
