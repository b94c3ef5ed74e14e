"""Materialise: every recipient row of a campaign in one INSERT ... SELECT, before any send.

Rule 1 of exactly once (see engine.py): one OutboundMessage row per (campaign, fan), unique in the
database. Fans who must not get this campaign but are still recipients (frequency cap, dead number,
local time passed) get a row with status `suppressed` and the reason in `error_code`; the reasons
are one table (`_suppressions`), first match wins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Fan
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign, TrackedLink, transition_from
from messaging.campaigns.render import link_urls
from messaging.campaigns.services import campaign_audience
from messaging.sending.carriers import carriers_lookup_enqueue
from messaging.sending.models import UndeliverableNumber
from messaging.sending.sql import Dialect, Op, Statement, joined, run_sync, values_sql
from messaging.sms.models import OutboundMessage
from messaging.sms.parts import sms_parts

S = OutboundMessage.Status
TABLE = OutboundMessage._meta.db_table
# Statuses of another campaign's rows that count against the fan's daily frequency cap.
CAP_COUNTED = [S.PENDING, S.CLAIMED, S.UNCERTAIN, S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED]


@dataclass
class Materialised:
    created: int  # rows inserted, including those inserted as suppressed
    suppressed_rows: int  # inserted as suppressed: frequency cap, undeliverable, local time passed
    excluded: int  # audience members with no row: opted out or erased


@dataclass(frozen=True)
class ZoneSlot:
    """When fans of one time zone may get the campaign, computed in Python, joined in SQL."""

    zone: str
    not_before: dt.datetime | None  # None: at the start
    skip: bool  # the local send time passed before the campaign started, and the policy is skip


@dataclass(frozen=True)
class Suppression:
    """Why a recipient row is inserted as suppressed: the reason stored, the join that finds such
    fans and the condition on it."""

    reason: str
    join: Statement
    when: str


def _zone_plan(campaign: Campaign, zones: list[str], start: dt.datetime) -> list[ZoneSlot]:
    talent = campaign.talent
    plan = []
    for name in zones:
        try:
            tz = scheduling.zone(name)
        except Exception:  # a zone stored by an import that skipped validation: use the talent's
            tz = talent.tz
        skip = False
        if campaign.schedule_mode == Campaign.ScheduleMode.LOCAL_TIME:
            # Both are required for this mode when the campaign is scheduled (Campaign.clean, services).
            assert campaign.local_date is not None and campaign.local_time is not None
            target = scheduling.local_instant(campaign.local_date, campaign.local_time, tz)
            if target < start - dt.timedelta(minutes=settings.CAMPAIGN_START_GRACE_MINUTES):
                # This fan's local time passed before the campaign started (it was scheduled late).
                skip = campaign.late_policy == Campaign.LatePolicy.SKIP
                target = start
            target = max(target, start)
        else:
            target = start
        if not campaign.ignore_quiet_hours:
            target = scheduling.next_allowed(target, tz, talent.quiet_hours_start, talent.quiet_hours_end)
        plan.append(ZoneSlot(name, None if target <= start else target, skip))
    return plan


def _zone_join(d: Dialect, plan: list[ZoneSlot], default_zone: str) -> Statement:
    rows = [(slot.zone, slot.not_before, int(slot.skip)) for slot in plan]
    values = values_sql(d, rows, casts=("text", "timestamptz", "integer"))
    on = (") tzp ON tzp.column1 = COALESCE(NULLIF(f.time_zone, ''), %s)", [default_zone])
    return joined(["LEFT JOIN (", values, on], sep="")


def _suppressions(d: Dialect, campaign: Campaign, plan: list[ZoneSlot], now: dt.datetime) -> list[Suppression]:
    """The reasons that apply to this campaign, in order of precedence."""
    talent = campaign.talent
    found = []
    if plan:
        # The zone join is there anyway (it gives not_before): local_time_past reads its column3.
        found.append(Suppression("local_time_past", _zone_join(d, plan, talent.default_time_zone), "tzp.column3 = 1"))
    if talent.daily_frequency_cap:
        recent = list(
            Campaign.objects.filter(talent=talent, started_at__gte=now - dt.timedelta(days=1))
            .exclude(pk=campaign.pk)
            .values_list("id", flat=True)
        )
        if recent:
            marks = ", ".join(["%s"] * len(recent))
            states = ", ".join(["%s"] * len(CAP_COUNTED))
            join = (
                f"LEFT JOIN (SELECT o.fan_id FROM {TABLE} o WHERE o.campaign_id IN ({marks}) "  # noqa: S608
                f"AND o.status IN ({states}) GROUP BY o.fan_id HAVING COUNT(*) >= %s) cap ON cap.fan_id = f.id",
                [*recent, *[str(s) for s in CAP_COUNTED], talent.daily_frequency_cap],
            )
            found.append(Suppression("frequency_cap", join, "cap.fan_id IS NOT NULL"))
    join = (
        f"LEFT JOIN {UndeliverableNumber._meta.db_table} und ON und.talent_id = %s AND und.phone = f.phone",
        [talent.pk],
    )
    found.append(Suppression("undeliverable", join, "und.id IS NOT NULL"))
    return found


def materialise_statement(
    d: Dialect, campaign: Campaign, fans: Statement, plan: list[ZoneSlot], now: dt.datetime
) -> Statement:
    """INSERT ... SELECT of every recipient row from the fans' query (idempotent)."""
    suppressions = _suppressions(d, campaign, plan, now)
    status = joined(
        [
            "CASE",
            *[(f"WHEN {s.when} THEN %s", [str(S.SUPPRESSED)]) for s in suppressions],
            ("ELSE %s END", [str(S.PENDING)]),
        ]
    )
    reason = joined(["CASE", *[(f"WHEN {s.when} THEN %s", [s.reason]) for s in suppressions], "ELSE '' END"])
    # Every row gets a not_before (the start, or later for its zone) so the claim query can walk
    # the partial index (campaign, not_before, id) straight to the due rows.
    not_before = ("COALESCE(tzp.column2, %s)" if plan else "%s", [now])
    insert = "INSERT OR IGNORE INTO" if d.vendor == "sqlite" else "INSERT INTO"
    estimate = max(1, sms_parts(campaign.body).parts)
    columns = (
        "talent_id, fan_id, campaign_id, kind, to_number, body, media_url, status, provider_sid, error_code, "
        "error_message, segments, attempts, not_before, created_at, updated_at"
    )
    return joined(
        [
            (
                f"{insert} {TABLE} ({columns}) SELECT %s, f.id, %s, %s, f.phone, '', '', ",
                [campaign.talent_id, campaign.pk, str(OutboundMessage.Kind.CAMPAIGN)],
            ),
            status,
            ", NULL, ",
            reason,
            (", '', %s, 0, ", [estimate]),
            not_before,
            (", %s, %s FROM (", [now, now]),
            fans,
            ") f ",
            joined([s.join for s in suppressions]),
            " WHERE f.phone IS NOT NULL",
            " ON CONFLICT DO NOTHING" if d.pg else "",
        ],
        sep="",
    )


def _insert(d: Dialect, campaign: Campaign, fans: Statement, plan: list[ZoneSlot], now: dt.datetime) -> Op[int]:
    result = yield materialise_statement(d, campaign, fans, plan, now)
    return result.rowcount


def campaign_materialise(*, campaign: Campaign, now: dt.datetime | None = None, fans=None) -> Materialised:
    """Create every recipient row of `campaign` in one INSERT ... SELECT (idempotent).

    `fans`: an explicit Fan queryset instead of the campaign's audience (issue 14: the fans due for
    an automation step), so automated texts get the same rows, cap, quiet hours and checks.
    """
    now = now or timezone.now()
    explicit = fans is not None
    audience = fans if explicit else campaign_audience(campaign=campaign, active_only=False)
    # Lists and segments may hold fans who opted out or were erased since: they get no row and
    # are counted as suppressed; pending fans (signup not finished) are simply not recipients.
    fans = audience.filter(status=Fan.Status.ACTIVE).order_by()
    default_zone = campaign.talent.default_time_zone
    zones = sorted({z or default_zone for z in fans.values_list("time_zone", flat=True).distinct()})
    fan_sql, fan_params = fans.values("id", "phone", "time_zone").query.sql_with_params()
    created = run_sync(_insert, campaign, (fan_sql, list(fan_params)), _zone_plan(campaign, zones, now), now)
    return Materialised(
        created=created,
        suppressed_rows=OutboundMessage.objects.filter(campaign=campaign, status=S.SUPPRESSED).count(),
        excluded=0 if explicit else _excluded_count(campaign, audience),
    )


def _excluded_count(campaign: Campaign, audience) -> int:
    """Audience members left out for their status (opted out, erased), for the report.

    With lists or segments the audience query returns every status, so they are counted there;
    "all fans" (no include) means all active fans, so its left-outs are the talent's opted-out
    and erased fans.
    """
    gone = [Fan.Status.OPTED_OUT, Fan.Status.ERASED]
    if campaign.include_lists.exists() or campaign.include_segments.exists():
        return audience.filter(status__in=gone).count()
    return Fan.objects.filter(talent_id=campaign.talent_id, status__in=gone).count()


def campaign_start(*, campaign_id: int, now: dt.datetime | None = None) -> Campaign | None:
    """Materialise a due campaign and mark it sending, in one transaction; None if not startable.

    A second dispatcher (another node) skips the locked row; a crash rolls the whole INSERT back,
    and the unique (campaign, fan) constraint makes a rerun harmless anyway.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True)
            .select_related("talent")
            .filter(pk=campaign_id, status__in=transition_from("start"))
            .first()
        )
        if campaign is None:
            return None
        late = now - (campaign.send_at or now)
        if late > dt.timedelta(minutes=settings.CAMPAIGN_START_GRACE_MINUTES):
            campaign.status = Campaign.Status.MISSED
            campaign.finished_at = now
            campaign.save(update_fields=["status", "finished_at", "updated_at"])
            audit("campaign.missed", talent=campaign.talent, obj=campaign, late_minutes=int(late.total_seconds() // 60))
            return campaign
        for url in link_urls(campaign.body):
            TrackedLink.objects.get_or_create(campaign=campaign, url=url)
        result = campaign_materialise(campaign=campaign, now=now)
        campaign.status = Campaign.Status.SENDING
        campaign.started_at = now
        campaign.recipients_count = result.created
        campaign.suppressed_count = result.excluded
        campaign.save(update_fields=["status", "started_at", "recipients_count", "suppressed_count", "updated_at"])
        carriers_lookup_enqueue(campaign_id=campaign.pk, talent_id=campaign.talent_id)
        audit(
            "campaign.started",
            talent=campaign.talent,
            obj=campaign,
            rows=result.created,
            suppressed=result.suppressed_rows + result.excluded,
        )
    return campaign
