"""Figures for the console's front page.

With one talent current (the normal case): `home_figures`, the home page of issue 12. Past days
come from the rollup (messaging/console/rollup.py, filled by a periodic task); today and "since the
last snapshot" are indexed window queries ((talent, joined_at), the consent log's created_at),
cached for a minute; campaign results are the figures stored on each campaign. Nothing counts a
million rows per view. Without a current talent (a superuser looking at all): `talent_cards`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from accounts import current_talent, permissions
from accounts.models import Fan, Talent
from messaging.conversations.figures import reply_figures
from messaging.conversations.inbound import inbound_backlog
from messaging.conversations.models import Conversation
from messaging.models import Campaign, InboundMessage, OutboundMessage
from messaging.sending.plan import duration_text

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
        recent_campaigns=list(
            Campaign.objects.filter(talent=talent, automation__isnull=True).order_by("-created_at")[:5]
        ),
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
        "oldest": duration_text(unread["oldest_seconds"]),  # "2 min", "1 h 5 min": read, not computed
        "replies": queued["n"],
        "parts": parts,
        "cost": round(parts * settings.SMS_SEGMENT_PRICE, 2),
        "drain_seconds": round(parts / max(talent.parts_per_second, 1)),
        "drain": duration_text(parts / max(talent.parts_per_second, 1)),
        "rate": talent.parts_per_second,
    }


# --- the home page of one talent (issue 12) -----------------------------------------------------
HOME_DAYS = 30
LIVE_CACHE_SECONDS = 60
LAST_CAMPAIGNS = 5

SOURCES = [  # (rollup field, label, Fan.source value for the list link)
    ("joins_sms", "Texted in", Fan.Source.SMS),
    ("joins_web", "Web signup form", Fan.Source.WEB),
    ("joins_import", "Import", Fan.Source.IMPORT),
    ("joins_console", "Added in the console", Fan.Source.ADMIN),
    ("joins_other", "Synthetic (demo)", Fan.Source.DEMO),
]


def unanswered_conversations(*, talent: Talent, now: dt.datetime | None = None) -> dict:
    """Conversations waiting for an answer, the oldest, and how fast the team answered (30 days).

    Read from the conversations (messaging/conversations/figures.py, which owns these figures):
    only real replies open a wait, never STOP, HELP, the data keyword or a join text.
    """
    now = now or timezone.now()
    figures = reply_figures(talent, now - dt.timedelta(days=30), now, now=now)
    oldest = (
        Conversation.objects.filter(talent=talent, waiting_since__isnull=False)
        .exclude(status=Conversation.Status.DONE)
        .order_by("waiting_since")
        .values_list("pk", flat=True)
        .first()
    )
    return {
        "count": figures["unanswered_now"],
        "oldest_at": figures["oldest_unanswered_at"],
        "oldest_id": oldest,
        "median_seconds": figures["median_seconds"],
        "median_text": _duration(figures["median_seconds"]),
        "answered_within_1h": figures["answered_within_1h"],
        "opened": figures["opened"],
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class HomeFigures:
    talent: Talent
    now: dt.datetime
    members: int
    members_as_of: dt.datetime | None
    days: list[dt.date]
    joins: list[int]
    joins_before: list[int]
    opt_outs: list[int]
    opt_outs_before: list[int]
    sources: list[dict]
    campaigns: list[dict]
    unanswered: dict
    regions: list[dict]
    since: dt.datetime  # start of the 30-day window, in the talent's zone
    backlog: dict = field(default_factory=dict)

    @property
    def zone(self) -> str:
        return self.talent.default_time_zone

    @property
    def joins_total(self) -> int:
        return sum(self.joins)

    @property
    def joins_before_total(self) -> int:
        return sum(self.joins_before)

    @property
    def opt_outs_total(self) -> int:
        return sum(self.opt_outs)

    @property
    def opt_outs_before_total(self) -> int:
        return sum(self.opt_outs_before)

    @property
    def table(self) -> list[tuple[dt.date, int, int, int, int]]:
        return list(zip(self.days, self.joins, self.joins_before, self.opt_outs, self.opt_outs_before, strict=True))


def change(now_value: int, before: int) -> str:
    if before == 0:
        return "new" if now_value else "no change"
    pct = round(100 * (now_value - before) / before)
    return f"{pct:+d}% on the 30 days before"


def _live_today(talent: Talent, now: dt.datetime, since: dt.datetime) -> dict:
    """Joins by source and opt-outs since `since` (today's start or the snapshot): indexed, small windows."""
    from messaging.console import rollup

    key = f"home:live:{talent.pk}:{int(since.timestamp())}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    joins = rollup.joins_by_day(talent, since, now + dt.timedelta(seconds=1))
    by_field = dict.fromkeys(rollup.JOIN_FIELDS, 0)
    for bucket in joins.values():
        for name, n in bucket.items():
            by_field[name] += n
    outs = sum(rollup.opt_outs_by_day(talent, since, now + dt.timedelta(seconds=1)).values())
    value = {"joins": by_field, "opt_outs": outs, "by_day": joins}
    cache.set(key, value, LIVE_CACHE_SECONDS)
    return value


def _campaign_rows(talent: Talent) -> list[dict]:
    from messaging.campaigns.services import campaign_results_refresh

    rows = []
    for campaign in (
        Campaign.objects.filter(talent=talent, automation__isnull=True)  # the team's, not a series' minute
        .exclude(status=Campaign.Status.DRAFT)
        .order_by("-created_at")[:LAST_CAMPAIGNS]
    ):
        results = campaign.results
        if not results and campaign.started_at:
            # Never computed yet (the task has not run since it started): once, then stored.
            results = campaign_results_refresh(campaign=campaign)
        rows.append({"campaign": campaign, "results": results or {}})
    return rows


def home_figures(talent: Talent, *, now: dt.datetime | None = None) -> HomeFigures:
    from messaging.console import rollup
    from messaging.console.models import DailyFigures

    now = now or timezone.now()
    tz = talent.tz
    today = rollup.local_today(talent, now)
    days = [today - dt.timedelta(days=i) for i in range(HOME_DAYS - 1, -1, -1)]
    before = [d - dt.timedelta(days=HOME_DAYS) for d in days]
    stored = {row.day: row for row in DailyFigures.objects.filter(talent=talent, day__gte=before[0], day__lt=today)}
    if any(d not in stored for d in [*before, *days[:-1]]):
        # The task has not filled these days yet (a fresh install, a new talent): compute them
        # once now (the same code, range scans of the missing days), then they are stored.
        rollup.rollup_days(talent, now=now)
        stored = {row.day: row for row in DailyFigures.objects.filter(talent=talent, day__gte=before[0], day__lt=today)}
    today_start = rollup.day_start(today, tz)
    live = _live_today(talent, now, today_start)

    def series(seq: list[dt.date], attr: str) -> list[int]:
        out = []
        for d in seq:
            if d == today:
                out.append(sum(live["joins"].values()) if attr == "joins" else live["opt_outs"])
            else:
                row = stored.get(d)
                out.append(getattr(row, attr) if row else 0)
        return out

    sources = []
    for name, label, value in SOURCES:
        n = sum(getattr(stored[d], name) for d in days[:-1] if d in stored) + live["joins"][name]
        if n or value != Fan.Source.DEMO:
            sources.append({"label": label, "n": n, "source": value})
    snap = rollup.latest_snapshot(talent)
    if snap is None:
        snap = rollup.snapshot(talent, now=now)  # first view before the task ran: once, then stored
    assert snap.snapshot_at is not None
    delta = _live_today(talent, now, snap.snapshot_at)
    members = max(0, (snap.members or 0) + sum(delta["joins"].values()) - delta["opt_outs"])
    return HomeFigures(
        talent=talent,
        now=now,
        members=members,
        members_as_of=snap.snapshot_at,
        days=days,
        joins=series(days, "joins"),
        joins_before=series(before, "joins"),
        opt_outs=series(days, "opt_outs"),
        opt_outs_before=series(before, "opt_outs"),
        sources=sources,
        campaigns=_campaign_rows(talent),
        unanswered=unanswered_conversations(talent=talent, now=now),
        regions=list(snap.top_regions or []),
        since=rollup.day_start(days[0], tz),
        backlog=_backlog(talent),
    )
