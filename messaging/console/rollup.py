"""Fill the home page's rollup (DailyFigures): closed days once, today's snapshots every few minutes.

Run by the periodic task `messaging.tasks.rollup_home_figures` (every minute; cheap when nothing is
due: one small SELECT per talent). Idempotent: every write is an upsert on (talent, day), so two
runs at once or a rerun after a crash give the same rows.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Fan, Talent
from consent.models import ConsentRecord
from messaging.campaigns import scheduling
from messaging.console.models import DailyFigures

DAYS_KEPT = 60  # this 30 days and the 30 before
# A day is final this long after it ended in the talent's zone: imports and the inbound processor can
# record a join a little after the fact; until then the day is recomputed on each run.
LATE = dt.timedelta(hours=2)
SNAPSHOT_EVERY = dt.timedelta(minutes=10)
TOP_REGIONS = 5

SOURCE_FIELD = {
    Fan.Source.SMS: "joins_sms",
    Fan.Source.WEB: "joins_web",
    Fan.Source.IMPORT: "joins_import",
    Fan.Source.ADMIN: "joins_console",
}
JOIN_FIELDS = ["joins_sms", "joins_web", "joins_import", "joins_console", "joins_other"]


def day_start(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant a local day begins (DST-safe: a midnight that does not exist moves forward)."""
    return scheduling.local_instant(day, dt.time(0, 0), tz)


def local_today(talent: Talent, now: dt.datetime) -> dt.date:
    return now.astimezone(talent.tz).date()


def joins_by_day(talent: Talent, start: dt.datetime, end: dt.datetime) -> dict[dt.date, dict[str, int]]:
    """{local day: {field: n}} of fans who joined in [start, end): one range scan of (talent, joined_at)."""
    rows = (
        Fan.objects.filter(talent=talent, joined_at__gte=start, joined_at__lt=end)
        .annotate(d=TruncDate("joined_at", tzinfo=talent.tz))
        .values_list("d", "source")
        .annotate(n=Count("id"))
        .order_by()
    )
    out: dict[dt.date, dict[str, int]] = {}
    for day, source, n in rows:
        field = SOURCE_FIELD.get(source, "joins_other")
        bucket = out.setdefault(day, dict.fromkeys(JOIN_FIELDS, 0))
        bucket[field] += n
    return out


def opt_outs_by_day(talent: Talent, start: dt.datetime, end: dt.datetime) -> dict[dt.date, int]:
    rows = (
        ConsentRecord.objects.filter(
            talent=talent,
            purpose=ConsentRecord.Purpose.MESSAGING,
            action=ConsentRecord.Action.WITHDRAWN,
            created_at__gte=start,
            created_at__lt=end,
        )
        .annotate(d=TruncDate("created_at", tzinfo=talent.tz))
        .values_list("d")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def rollup_days(talent: Talent, *, now: dt.datetime) -> int:
    """Compute the closed days of the window that are missing or not final yet; returns rows written."""
    tz = talent.tz
    today = local_today(talent, now)
    days = [today - dt.timedelta(days=i) for i in range(1, DAYS_KEPT + 1)]
    final = {
        day
        for day, computed_at in DailyFigures.objects.filter(talent=talent, day__in=days).values_list(
            "day", "computed_at"
        )
        if computed_at >= day_start(day + dt.timedelta(days=1), tz) + LATE
    }
    due = [d for d in days if d not in final]
    if not due:
        return 0
    start, end = day_start(min(due), tz), day_start(max(due) + dt.timedelta(days=1), tz)
    joins = joins_by_day(talent, start, end)
    outs = opt_outs_by_day(talent, start, end)
    rows = [
        DailyFigures(
            talent=talent,
            day=day,
            opt_outs=outs.get(day, 0),
            computed_at=now,
            **joins.get(day, dict.fromkeys(JOIN_FIELDS, 0)),
        )
        for day in due
    ]
    DailyFigures.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["talent", "day"],
        update_fields=[*JOIN_FIELDS, "opt_outs", "computed_at"],
    )
    return len(rows)


def snapshot(talent: Talent, *, now: dt.datetime) -> DailyFigures:
    """Active fans and top regions now, on today's row: the only full counts, once per SNAPSHOT_EVERY."""
    fans = Fan.objects.filter(talent=talent, status=Fan.Status.ACTIVE)
    members = fans.count()
    regions = [
        {"country": c, "region": r, "fans": n}
        for c, r, n in fans.exclude(region="")
        .values_list("country", "region")
        .annotate(n=Count("id"))
        .order_by("-n", "country", "region")[:TOP_REGIONS]
    ]
    row, _ = DailyFigures.objects.update_or_create(
        talent=talent,
        day=local_today(talent, now),
        defaults={"members": members, "top_regions": regions, "snapshot_at": now, "computed_at": now},
    )
    return row


def latest_snapshot(talent: Talent) -> DailyFigures | None:
    return DailyFigures.objects.filter(talent=talent, snapshot_at__isnull=False).order_by("-snapshot_at").first()


def rollup_talent(talent: Talent, *, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    with transaction.atomic():
        written = rollup_days(talent, now=now)
        snap = latest_snapshot(talent)
        refreshed = 0
        if snap is None or snap.snapshot_at is None or snap.snapshot_at < now - SNAPSHOT_EVERY:
            snapshot(talent, now=now)
            refreshed = 1
    return {"days": written, "snapshots": refreshed}


def rollup_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    total = {"talents": 0, "days": 0, "snapshots": 0}
    for talent in Talent.objects.filter(is_active=True).order_by("pk"):
        done = rollup_talent(talent, now=now)
        total["talents"] += 1
        total["days"] += done["days"]
        total["snapshots"] += done["snapshots"]
    return total
