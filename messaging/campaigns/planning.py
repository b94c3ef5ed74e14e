"""The confirmation before scheduling: when it starts, per fan zone, what quiet hours and the daily
cap hold, cost and whether a second person must approve (nothing is written)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Sum
from django.utils import timezone

from messaging.audience.services import reachable
from messaging.campaigns import scheduling
from messaging.campaigns.estimates import campaign_audience, campaign_estimate
from messaging.campaigns.models import Campaign
from messaging.campaigns.render import (
    validate_body,
)
from messaging.sms.models import OutboundMessage

S = OutboundMessage.Status
CS = Campaign.Status


def _start_instant(campaign: Campaign, now: dt.datetime) -> dt.datetime:
    mode = campaign.schedule_mode
    if mode == Campaign.ScheduleMode.NOW:
        return now
    if mode == Campaign.ScheduleMode.AT:
        if campaign.send_at is None:
            raise ValidationError({"send_at": "Pick the date and time to send at."})
        if campaign.send_at < now - dt.timedelta(minutes=5):
            raise ValidationError({"send_at": "That time has passed; pick a time in the future or send now."})
        return campaign.send_at
    if not campaign.local_time or not campaign.local_date:
        raise ValidationError({"local_time": "Pick the day and the local time each fan gets the message."})
    zones = {
        z or campaign.talent.default_time_zone
        for z in campaign_audience(campaign=campaign).order_by().values_list("time_zone", flat=True).distinct()
    }
    valid = []
    for name in zones | {campaign.talent.default_time_zone}:
        try:
            scheduling.zone(name)
            valid.append(name)
        except Exception:
            continue
    first = scheduling.first_local_occurrence(campaign.local_date, campaign.local_time, sorted(valid))
    latest = max(scheduling.local_instant(campaign.local_date, campaign.local_time, scheduling.zone(z)) for z in valid)
    if latest < now - dt.timedelta(minutes=5):
        raise ValidationError({"local_date": "That local time has passed in every fan's time zone; pick a later day."})
    assert first is not None  # `valid` is not empty: max() above would have raised
    return max(first, now)


# --- the confirmation before scheduling ---------------------------------------------------------
@dataclass
class SchedulePlan:
    start: dt.datetime
    recipients: int
    parts_each: int
    parts_total: int
    cost: float
    zones: list[dict]  # per fan zone: name, fans, local send time, held (bool), until
    held_quiet: int
    held_quiet_until: dt.datetime | None
    waiting_local: int
    capped_estimate: int | None  # fans of the audience at the daily cap now
    capped_exact: bool  # counted fan by fan, or estimated from a sample of the audience (see _at_cap)
    cap: int
    needs_approval: bool
    warnings: list[str]


CAP_EXACT_LIMIT = 200_000  # up to this many recent campaign rows the cap is counted fan by fan
CAP_SAMPLE = 5_000  # above it, about this many fans of the audience (one id in K) are checked
# The statuses a daily cap counts (the send engine's CAP_COUNTED, messaging/sending/materialise.py):
# every row that left or will leave; suppressed, cancelled and failed rows never reached the fan.
CAP_SKIPPED = [S.SUPPRESSED, S.CANCELLED, S.FAILED]


def _at_cap(*, campaign: Campaign, fans, start: dt.datetime, cap: int, audience: int) -> tuple[int, bool]:
    """Fans of the audience who already got `cap` campaign texts in the 24 hours before `start`.

    Counted exactly while the recent campaigns hold at most CAP_EXACT_LIMIT rows (one GROUP BY
    over them). Above that (a million-row blast this morning), a systematic sample: the audience's
    fans whose id is a multiple of K (K = audience / CAP_SAMPLE), looked up on the (campaign, fan)
    index, and the share at the cap scaled to the whole audience (about +-1.5 points of the
    audience at 5,000 fans). The send engine applies the cap exactly when it starts either way.
    """
    recent = Campaign.objects.filter(talent_id=campaign.talent_id, started_at__gte=start - dt.timedelta(days=1))
    recent = recent.exclude(pk=campaign.pk)
    recent_rows = recent.aggregate(n=Sum("recipients_count"))["n"] or 0
    if recent_rows == 0:
        return 0, True
    rows = OutboundMessage.objects.filter(
        campaign_id__in=list(recent.values_list("id", flat=True)), kind=OutboundMessage.Kind.CAMPAIGN
    ).exclude(status__in=CAP_SKIPPED)

    def at_cap(fan_ids) -> int:
        return (
            rows.filter(fan_id__in=fan_ids)
            .values("fan_id")
            .annotate(n=Count("id"))
            .filter(n__gte=cap)
            .order_by()
            .count()
        )

    if recent_rows <= CAP_EXACT_LIMIT or audience <= CAP_SAMPLE:
        return at_cap(fans.order_by().values("id")), True
    step = max(1, audience // CAP_SAMPLE)
    sample = list(fans.annotate(slot=F("id") % step).filter(slot=0).order_by().values_list("id", flat=True))
    if not sample:
        return 0, False
    hits = sum(at_cap(sample[i : i + 900]) for i in range(0, len(sample), 900))  # SQLite's 999 parameters
    return round(hits * audience / len(sample)), False


def campaign_schedule_plan(*, campaign: Campaign, now: dt.datetime | None = None) -> SchedulePlan:
    """What scheduling would do, without doing it: when, how many, cost, what quiet hours and the cap hold.

    The zones come from one GROUP BY time_zone of the audience (index (talent, time_zone)); the
    quiet-hours math is the send engine's (scheduling.next_allowed), per zone.
    """
    now = now or timezone.now()
    validate_body(campaign.body)
    start = _start_instant(campaign, now)
    talent = campaign.talent
    fans = reachable(campaign_audience(campaign=campaign))  # what the confirmation counts: reachable fans
    by_zone = dict(fans.order_by().values_list("time_zone").annotate(n=Count("id")).values_list("time_zone", "n"))
    merged: dict[str, int] = {}
    for name, n in by_zone.items():
        merged[name or talent.default_time_zone] = merged.get(name or talent.default_time_zone, 0) + n
    zones, held_quiet, waiting_local, quiet_until = [], 0, 0, None
    for name, n in sorted(merged.items(), key=lambda kv: -kv[1]):
        try:
            tz = scheduling.zone(name)
        except Exception:
            tz = talent.tz
        target = start
        if campaign.schedule_mode == Campaign.ScheduleMode.LOCAL_TIME and campaign.local_date and campaign.local_time:
            target = max(scheduling.local_instant(campaign.local_date, campaign.local_time, tz), start)
            if target > start:
                waiting_local += n
        allowed = target
        if not campaign.ignore_quiet_hours:
            allowed = scheduling.next_allowed(target, tz, talent.quiet_hours_start, talent.quiet_hours_end)
        held = allowed > target
        if held:
            held_quiet += n
            quiet_until = max(quiet_until, allowed) if quiet_until else allowed
        zones.append({"name": name, "fans": n, "at": allowed, "local": allowed.astimezone(tz), "held": held})
    recipients = sum(merged.values())
    estimate = campaign_estimate(campaign=campaign)
    cap = talent.daily_frequency_cap
    capped, capped_exact = (
        (_at_cap(campaign=campaign, fans=fans, start=start, cap=cap, audience=recipients)) if cap else (None, True)
    )
    return SchedulePlan(
        start=start,
        recipients=recipients,
        parts_each=estimate.info.parts,
        parts_total=estimate.info.parts * recipients,
        cost=round(estimate.info.parts * recipients * settings.SMS_SEGMENT_PRICE, 2),
        zones=zones,
        held_quiet=held_quiet,
        held_quiet_until=quiet_until,
        waiting_local=waiting_local,
        capped_estimate=capped,
        capped_exact=capped_exact,
        cap=cap,
        needs_approval=recipients > talent.approval_threshold,
        warnings=list(estimate.warnings),
    )
