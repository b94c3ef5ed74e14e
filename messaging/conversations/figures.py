"""Reply figures that tell the truth (issue 13), for the console's home page.

Pure reads over episodes (models.Episode: one per "the fan waits for us", opened only by a real
reply), so STOP, HELP, START, the data keyword, join texts and strangers can never count as replies
or as waits: they open no episode. "Done without a reply" is its own figure, never "answered".

Every query is bounded by an index: episodes by (talent, opened_at) within the window, waiting
conversations by the partial index on (talent, waiting_since), campaigns by (campaign, status).
The home page (messaging/console/dashboard.py) calls `reply_figures`; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics

from django.db import connection
from django.db.models import Count, F, Min, Q, Sum
from django.utils import timezone

from accounts.models import Talent
from messaging.conversations.models import Conversation, Episode
from messaging.sms.models import OutboundMessage

Outcome = Episode.Outcome
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(hours=24)
_NOT_SENT = [OutboundMessage.Status.SUPPRESSED, OutboundMessage.Status.CANCELLED]


def _percentiles(episodes, points: tuple[float, ...]) -> list[float | None]:
    """Percentiles (continuous, like PostgreSQL's percentile_cont) of the answered waits, seconds."""
    answered = episodes.filter(outcome=Outcome.ANSWERED, closed_at__isnull=False)
    if connection.vendor == "postgresql":
        # One ordered-set aggregate in the database: no wait leaves it but the answer.
        sql, params = answered.annotate(wait=F("closed_at") - F("opened_at")).values("wait").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM w.wait)) "  # noqa: S608
                f"FROM ({sql}) AS w",
                [list(points), *params],
            )
            row = cursor.fetchone()[0]
        return [None if v is None else float(v) for v in (row or [None] * len(points))]
    waits = sorted(
        (closed - opened).total_seconds() for opened, closed in answered.values_list("opened_at", "closed_at")
    )
    return [_cont(waits, p) for p in points]


def _cont(values: list[float], p: float) -> float | None:
    if not values:
        return None
    k = (len(values) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def reply_figures(talent: Talent, since: dt.datetime, until: dt.datetime, *, now: dt.datetime | None = None) -> dict:
    """Time to first human reply and what became of every wait opened in [since, until).

    Keys: opened, answered, done_without_reply, still_waiting (of the episodes opened in the
    window); real_replies (the fans' texts in them); median_seconds, p90_seconds (to the first
    human reply, wall clock); answered_within_1h, answered_within_24h (shares of opened, 0..1, None
    when nothing opened); unanswered_now, oldest_unanswered_at, oldest_unanswered_seconds (now,
    whatever the window); per_member [{user_id, username, answered, median_seconds}];
    per_campaign [{campaign_id, name, replying_fans, real_replies, recipients, reply_rate}].
    """
    now = now or timezone.now()
    episodes = Episode.objects.filter(talent=talent, opened_at__gte=since, opened_at__lt=until)
    totals = episodes.aggregate(
        opened=Count("id"),
        answered=Count("id", filter=Q(outcome=Outcome.ANSWERED)),
        done=Count("id", filter=Q(outcome=Outcome.DONE_WITHOUT_REPLY)),
        waiting=Count("id", filter=Q(outcome=Outcome.WAITING)),
        within_1h=Count("id", filter=Q(outcome=Outcome.ANSWERED, closed_at__lte=F("opened_at") + HOUR)),
        within_24h=Count("id", filter=Q(outcome=Outcome.ANSWERED, closed_at__lte=F("opened_at") + DAY)),
        replies=Sum("replies"),
    )
    median, p90 = _percentiles(episodes, (0.5, 0.9))
    opened = totals["opened"]
    waiting = Conversation.objects.filter(talent=talent, waiting_since__isnull=False).exclude(
        status=Conversation.Status.DONE
    )
    oldest = waiting.aggregate(oldest=Min("waiting_since"))["oldest"]
    return {
        "opened": opened,
        "answered": totals["answered"],
        "done_without_reply": totals["done"],
        "still_waiting": totals["waiting"],
        "real_replies": totals["replies"] or 0,
        "median_seconds": median,
        "p90_seconds": p90,
        "answered_within_1h": totals["within_1h"] / opened if opened else None,
        "answered_within_24h": totals["within_24h"] / opened if opened else None,
        "unanswered_now": waiting.count(),
        "oldest_unanswered_at": oldest,
        "oldest_unanswered_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else None,
        "per_member": _per_member(episodes),
        "per_campaign": _per_campaign(episodes),
    }


def _per_member(episodes) -> list[dict]:
    rows: dict[int, list[float]] = {}
    names: dict[int, str] = {}
    answered = episodes.filter(outcome=Outcome.ANSWERED, answered_by__isnull=False)
    for user_id, username, opened, closed in answered.values_list(
        "answered_by_id", "answered_by__username", "opened_at", "closed_at"
    ).iterator(chunk_size=5000):
        rows.setdefault(user_id, []).append((closed - opened).total_seconds())
        names[user_id] = username
    return sorted(
        (
            {"user_id": uid, "username": names[uid], "answered": len(w), "median_seconds": statistics.median(w)}
            for uid, w in rows.items()
        ),
        key=lambda r: (-r["answered"], r["username"]),
    )


def _per_campaign(episodes, limit: int = 20) -> list[dict]:
    grouped = list(
        episodes.filter(campaign__isnull=False)
        .values("campaign_id", "campaign__name")
        .annotate(fans=Count("conversation", distinct=True), replies=Sum("replies"))
        .order_by("-replies")[:limit]
    )
    recipients = dict(
        OutboundMessage.objects.filter(campaign_id__in=[g["campaign_id"] for g in grouped])
        .exclude(status__in=_NOT_SENT)
        .order_by()
        .values("campaign_id")
        .annotate(n=Count("id"))
        .values_list("campaign_id", "n")
    )
    return [
        {
            "campaign_id": g["campaign_id"],
            "name": g["campaign__name"],
            "replying_fans": g["fans"],
            "real_replies": g["replies"] or 0,
            "recipients": recipients.get(g["campaign_id"], 0),
            "reply_rate": g["fans"] / recipients[g["campaign_id"]] if recipients.get(g["campaign_id"]) else None,
        }
        for g in grouped
    ]
