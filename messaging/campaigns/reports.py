"""A campaign's figures: the report, the results stored on the campaign for lists and the home
page, and why texts still wait (quiet hours, local time, retries)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils import timezone

from consent.models import ConsentRecord
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign, Click
from messaging.sms.models import InboundMessage, OutboundMessage

S = OutboundMessage.Status
CS = Campaign.Status


# --- report -------------------------------------------------------------------------------------
FAILED_STATES = [S.FAILED, S.UNDELIVERED]
SENT_STATES = [S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED]


# --- sections a layer above adds (issue 13: the poll's tally and themes) -------------------------
@dataclass(frozen=True)
class ReportSection:
    """A part of the campaign page and report that a layer above campaigns computes. Campaigns may
    not import those layers (tests/fancommunity/test_layering.py), so they register here from
    messaging/apps.py `ready()`, as the send planners do (SEND_PLANNERS), and every reader (the
    campaign page, the report page and CSV, the API, manage.py campaign_report, the archive's
    stored report) shows whatever is registered.

    `build(campaign)` gives the section's figures (JSON-ready: they are stored with an archived
    report) or None when the campaign has none (no key in the report at all); `csv_rows(data)` its
    (figure, value) rows; `display(data, tz)` what its template draws; `stored(data)` what a stored
    report shows once the campaign's rows are archived (nothing is being counted any more)."""

    key: str
    template: str
    build: Callable[[Campaign], dict[str, Any] | None]
    csv_rows: Callable[[dict[str, Any]], Iterable[tuple[str, Any]]]
    display: Callable[[dict[str, Any], Any], dict[str, Any]] = lambda data, tz: data
    stored: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: data


REPORT_SECTIONS: list[ReportSection] = []


def register_report_section(section: ReportSection) -> None:
    """Idempotent by key (ready() may run more than once in tests)."""
    REPORT_SECTIONS[:] = [s for s in REPORT_SECTIONS if s.key != section.key] + [section]


def report_sections(report: dict[str, Any], tz=None) -> list[dict[str, Any]]:
    """The registered sections a report holds, ready for their templates: [{key, template, data}]."""
    return [
        {"key": s.key, "template": s.template, "data": s.display(report[s.key], tz)}
        for s in REPORT_SECTIONS
        if report.get(s.key) is not None
    ]


def report_section_rows(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The sections' CSV rows, in registration order."""
    return [row for s in REPORT_SECTIONS if report.get(s.key) is not None for row in s.csv_rows(report[s.key])]


def campaign_sections(*, campaign: Campaign, tz=None) -> list[dict[str, Any]]:
    """The sections alone, for the campaign page (which does not compute the whole report)."""
    if campaign.archived_report is not None:
        return report_sections(_stored_sections(campaign.archived_report), tz)
    return report_sections(_built_sections(campaign), tz)


def _built_sections(campaign: Campaign) -> dict[str, Any]:
    built = {s.key: s.build(campaign) for s in REPORT_SECTIONS}
    return {key: data for key, data in built.items() if data is not None}


def _stored_sections(stored: dict[str, Any]) -> dict[str, Any]:
    return {s.key: s.stored(stored[s.key]) for s in REPORT_SECTIONS if stored.get(s.key) is not None}


def campaign_report(*, campaign: Campaign, sections: bool = True) -> dict[str, Any]:
    """The figures of the report page and of `manage.py campaign_report` (one pass per table), and
    the registered sections' (`sections=False` leaves them out: the stored headline results)."""
    if campaign.archived_report is not None:
        # Its message rows went to the archive (messaging/sending/archive.py) with these figures,
        # the sections' included (the archive stores what this function returns).
        stored = campaign.archived_report
        return {
            **stored,
            **_stored_sections(stored),
            "id": campaign.pk,
            "name": campaign.name,
            "status": campaign.status,
        }
    # Campaign rows only: a test send is a SYSTEM row of the campaign and never counts.
    rows = OutboundMessage.objects.filter(campaign=campaign, kind=OutboundMessage.Kind.CAMPAIGN)
    by_status = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
    suppressed_rows = by_status.get(S.SUPPRESSED, 0)
    total_rows = sum(by_status.values())
    sent = sum(by_status.get(s, 0) for s in SENT_STATES)
    failed_by_reason = {
        (code or "unknown"): n
        for code, n in rows.filter(status__in=FAILED_STATES)
        .values_list("error_code")
        .annotate(n=Count("id"))
        .order_by()
    }
    segments = rows.filter(status__in=SENT_STATES).aggregate(s=Sum("parts"))["s"] or 0
    unique_clicks = (
        Click.objects.filter(link__campaign=campaign, message__kind=OutboundMessage.Kind.CAMPAIGN)
        .values("message_id")
        .distinct()
        .count()
    )
    window = dt.timedelta(hours=settings.CAMPAIGN_ATTRIBUTION_HOURS)
    first_sent = rows.filter(sent_at__isnull=False).aggregate(t=Min("sent_at"))["t"]
    replies = opt_outs = 0
    if first_sent is not None:
        # A reply or opt-out counts for this campaign when it came from a recipient after their
        # message left and within the attribution window.
        recipients = rows.filter(sent_at__isnull=False)
        replies = (
            InboundMessage.objects.filter(
                talent=campaign.talent,
                # Real replies only: a STOP, HELP, MYDATA or join text is not a reply.
                action=InboundMessage.Action.INBOX,
                fan_id__in=recipients.values("fan_id"),
                received_at__gte=first_sent,
                received_at__lte=timezone.now() if campaign.finished_at is None else campaign.finished_at + window,
            )
            .values("fan_id")
            .distinct()
            .count()
        )
        opt_outs = (
            ConsentRecord.objects.filter(
                talent=campaign.talent,
                purpose=ConsentRecord.Purpose.MESSAGING,
                action=ConsentRecord.Action.WITHDRAWN,
                fan_id__in=recipients.values("fan_id"),
                created_at__gte=first_sent,
                created_at__lte=(campaign.finished_at or timezone.now()) + window,
            )
            .values("fan_id")
            .distinct()
            .count()
        )
    report = {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "recipients": total_rows - suppressed_rows - by_status.get(S.CANCELLED, 0),
        # Fans left out for their status never get a row; the rest (cap, undeliverable, local time
        # passed, STOP mid-blast) are rows marked suppressed.
        "suppressed": campaign.suppressed_count + suppressed_rows,
        "pending": by_status.get(S.PENDING, 0) + by_status.get(S.CLAIMED, 0),
        "uncertain": by_status.get(S.UNCERTAIN, 0),
        "cancelled": by_status.get(S.CANCELLED, 0),
        "sent": sent,
        "delivered": by_status.get(S.DELIVERED, 0),
        "failed": sum(failed_by_reason.values()),
        "failed_by_reason": failed_by_reason,
        "clicks": unique_clicks,
        "click_rate": round(unique_clicks / sent, 4) if sent else 0.0,
        "replies": replies,
        "opt_outs": opt_outs,
        "reply_rate": round(replies / sent, 4) if sent else 0.0,
        "opt_out_rate": round(opt_outs / sent, 4) if sent else 0.0,
        "delivery_rate": round(by_status.get(S.DELIVERED, 0) / sent, 4) if sent else 0.0,
        "segments": segments,
        "cost": round(segments * settings.SMS_SEGMENT_PRICE, 2),
    }
    if sections:
        report.update(_built_sections(campaign))
    return report


RESULT_KEYS = (
    "recipients", "sent", "delivered", "failed", "pending", "suppressed", "clicks", "click_rate",
    "replies", "reply_rate", "opt_outs", "opt_out_rate", "segments", "cost",
)  # fmt: skip
RESULTS_FRESH = dt.timedelta(minutes=5)
# Callbacks, clicks and replies keep coming for a while after the last text left.
RESULTS_SETTLE = dt.timedelta(days=3)


def campaign_results_refresh(*, campaign: Campaign, now: dt.datetime | None = None) -> dict[str, Any]:
    """Store the report's headline figures on the campaign (the list and the home page read them)."""
    now = now or timezone.now()
    report = campaign_report(campaign=campaign, sections=False)  # the headline figures only
    results = {key: report[key] for key in RESULT_KEYS}
    Campaign.objects.filter(pk=campaign.pk).update(results=results, results_at=now)
    campaign.results, campaign.results_at = results, now
    return results


def campaigns_results_due(*, now: dt.datetime | None = None):
    """Campaigns whose stored figures are stale: sending, or finished recently, or never computed."""
    from django.db.models import Q

    now = now or timezone.now()
    live = Q(status__in=[CS.SENDING, CS.PAUSED]) | Q(finished_at__gte=now - RESULTS_SETTLE)
    never = Q(results_at__isnull=True, started_at__isnull=False)
    return Campaign.objects.filter(live | never).filter(
        Q(results_at__isnull=True) | Q(results_at__lt=now - RESULTS_FRESH)
    )


# --- why texts wait -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Hold:
    count: int
    reason: str  # "quiet_hours", "local_time" or "retry"
    local: str  # the wall-clock time in each fan's zone, "08:00"
    first: dt.datetime
    last: dt.datetime

    def sentence(self, tz) -> str:
        first = timezone.localtime(self.first, tz)
        when = f"{self.local} in each fan's zone"
        span = f"the first at {first:%H:%M} {first.tzname()} on {first:%b %-d}"
        if self.reason == "quiet_hours":
            return f"{self.count:,} held by quiet hours until {when} ({span})."
        if self.reason == "local_time":
            return f"{self.count:,} waiting for the local send time, {when} ({span})."
        return f"{self.count:,} waiting for a retry or the sender's pace ({span})."


def campaign_holds(*, campaign: Campaign, now: dt.datetime | None = None) -> list[Hold]:
    """Rows due later than now, grouped by why: quiet hours, each fan's local time, or a retry."""
    now = now or timezone.now()
    talent = campaign.talent
    rows = (
        OutboundMessage.objects.filter(
            campaign=campaign, kind=OutboundMessage.Kind.CAMPAIGN, status=S.PENDING, not_before__gt=now
        )
        .values_list("not_before", "fan__time_zone")
        .annotate(n=Count("id"))
        .order_by()
    )
    groups: dict[tuple[str, str], list] = {}
    for not_before, zone_name, n in rows:
        try:
            tz = scheduling.zone(zone_name or talent.default_time_zone)
        except Exception:
            tz = talent.tz
        local = not_before.astimezone(tz).time().replace(second=0, microsecond=0)
        if not campaign.ignore_quiet_hours and local == talent.quiet_hours_end.replace(second=0, microsecond=0):
            reason = "quiet_hours"
        elif (
            campaign.schedule_mode == Campaign.ScheduleMode.LOCAL_TIME
            and campaign.local_time
            and (local == campaign.local_time.replace(second=0, microsecond=0))
        ):
            reason = "local_time"
        else:
            reason = "retry"
        key = (reason, f"{local:%H:%M}" if reason != "retry" else "")
        bucket = groups.setdefault(key, [0, not_before, not_before])
        bucket[0] += n
        bucket[1] = min(bucket[1], not_before)
        bucket[2] = max(bucket[2], not_before)
    return [
        Hold(count=c, reason=reason, local=local, first=first, last=last)
        for (reason, local), (c, first, last) in sorted(groups.items(), key=lambda item: item[1][1])
    ]
