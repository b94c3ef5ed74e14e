"""The welcome series (issue 14 §2): enrol on join, hand each due step to the campaign engine.

Delays count from when the previous text was due to leave (for the first step: joining), after
the engine's quiet-hours hold, so a later step never overtakes an earlier one. A delay of whole
days keeps the fan's wall-clock time (joined 21:00 -> "1 day" is 21:00 the next day even across
a DST change); any other delay is exact elapsed time. Edits to a live series reach only steps not
yet handed to the engine: a step's text is copied into its occurrence campaign when handed over.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from accounts.models import Fan
from messaging.automations import dates
from messaging.automations.occurrences import automation_transition, fan_zone, occurrence_start, occurrences_report
from messaging.automations.series_models import (
    AutomationCampaign,
    AutomationStatus,
    DateEnrolment,
    DateMessage,
    WelcomeEnrolment,
    WelcomeSeries,
    WelcomeStep,
    WelcomeStepSend,
)
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign
from messaging.sms.models import OutboundMessage

E = WelcomeEnrolment.Status
AS = AutomationStatus
BATCH = 2000
DAY = 24 * 60


def enrol_on_join(*, fan: Fan, source: str, keyword: str = "") -> None:
    """Called once per join (joins.py): the talent's live welcome series and date messages.
    `keyword`: the talent keyword the number texted before it joined, if any."""
    series_enrol(fan=fan, keyword=keyword)
    dates.dates_enrol(fan=fan)


def series_enrol_imported(*, talent_id: int, fan_ids: list[int], now: dt.datetime | None = None) -> int:
    """Fans a CSV import made active (messaging/audience/imports.py JOINED_HOOKS, in the import's
    transaction): enrolled in the talent's live series only if it says "also for fans added by
    import". Their joining is the import, so delays count from now. Date messages are not for
    them: their form never said a birth date is used for a birthday text (and the import's join
    date is the consent's). Returns how many were enrolled."""
    series = (
        WelcomeSeries.objects.filter(talent_id=talent_id, status=AS.LIVE, include_imported=True)
        .select_related("talent")
        .first()
    )
    if series is None or not fan_ids:
        return 0
    now = now or timezone.now()
    steps = list(series.steps.all())
    made = 0
    for start in range(0, len(fan_ids), BATCH):
        fans = Fan.objects.filter(
            pk__in=fan_ids[start : start + BATCH], talent_id=talent_id, status=Fan.Status.ACTIVE
        ).only("pk", "source", "time_zone")
        rows = []
        for fan in fans:
            plan = WelcomeEnrolment(
                series=series, fan_id=fan.pk, talent_id=talent_id, source=fan.source, keyword="", anchor_at=now
            )
            _plan(plan, steps, fan_zone(fan, series.talent))
            rows.append(plan)
        # Unique (series, fan): a fan welcomed before (joined, left, imported again) is not again.
        WelcomeEnrolment.objects.bulk_create(rows, ignore_conflicts=True)
        made += WelcomeEnrolment.objects.filter(
            series=series, fan_id__in=[r.fan_id for r in rows], anchor_at=now
        ).count()
    return made


def normalise_keyword(value: str) -> str:
    return " ".join((value or "").split()).upper()


def add_delay(anchor: dt.datetime, minutes: int, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """`anchor` + `minutes`; whole days are counted on the fan's wall clock (DST-safe)."""
    if minutes % DAY:
        return anchor + dt.timedelta(minutes=minutes)
    local = anchor.astimezone(tz)
    day = local.date() + dt.timedelta(days=minutes // DAY)
    return scheduling.local_instant(day, local.time(), tz)


def step_applies(step: WelcomeStep, enrolment: WelcomeEnrolment) -> bool:
    if step.only_source and step.only_source != enrolment.source:
        return False
    return not (step.only_keyword and normalise_keyword(step.only_keyword) != enrolment.keyword)


def next_step(enrolment: WelcomeEnrolment, steps: list[WelcomeStep]) -> WelcomeStep | None:
    """The first step from `next_position` on that this fan's join matches (others are skipped)."""
    for step in steps:
        if step.position >= enrolment.next_position and step_applies(step, enrolment):
            return step
    return None


def _plan(enrolment: WelcomeEnrolment, steps: list[WelcomeStep], tz: zoneinfo.ZoneInfo) -> None:
    """Set next_due_at (or complete) from the anchor and the next applicable step."""
    step = next_step(enrolment, steps)
    if step is None:
        enrolment.status, enrolment.next_due_at = E.COMPLETED, None
        return
    enrolment.next_due_at = add_delay(enrolment.anchor_at, step.delay_minutes, tz)


def series_enrol(*, fan: Fan, keyword: str = "", now: dt.datetime | None = None) -> WelcomeEnrolment | None:
    """Enrol a fan who just joined in the talent's live series (once per fan per series)."""
    if fan.status != Fan.Status.ACTIVE:
        return None
    series = WelcomeSeries.objects.filter(talent_id=fan.talent_id, status=AS.LIVE).select_related("talent").first()
    if series is None:
        return None
    now = now or timezone.now()
    plan = WelcomeEnrolment(source=fan.source, keyword=normalise_keyword(keyword), anchor_at=now)
    _plan(plan, list(series.steps.all()), fan_zone(fan, series.talent))
    # get_or_create: in a savepoint, so a double join never breaks the join's own transaction; a
    # fan who left and joined again is not welcomed twice.
    enrolment, created = WelcomeEnrolment.objects.get_or_create(
        series=series,
        fan=fan,
        defaults={
            "talent_id": fan.talent_id,
            "source": plan.source,
            "keyword": plan.keyword,
            "anchor_at": now,
            "status": plan.status,
            "next_due_at": plan.next_due_at,
        },
    )
    return enrolment if created else None


@dataclass
class RunResult:
    campaigns: list[int]
    handed: int = 0
    capped: int = 0
    stopped: int = 0


def series_run_due(*, now: dt.datetime | None = None) -> RunResult:
    """The scheduler's welcome part: every due step of every live series goes to the engine."""
    now = now or timezone.now()
    result = RunResult(campaigns=[])
    for series in WelcomeSeries.objects.filter(status=AS.LIVE).select_related("talent"):
        while _series_batch(series, now, result):
            pass
    return result


def _series_batch(series: WelcomeSeries, now: dt.datetime, result: RunResult) -> bool:
    """One locked batch of due enrolments; True when a full batch was taken (run again)."""
    steps = list(series.steps.all())
    with transaction.atomic():
        due = list(
            WelcomeEnrolment.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(series=series, status=E.ACTIVE, next_due_at__lte=now)
            .select_related("fan")
            .order_by("next_due_at")[:BATCH]
        )
        if not due:
            return False
        by_step: dict[int, list[WelcomeEnrolment]] = {}
        step_of = {s.pk: s for s in steps}
        for enrolment in due:
            tz = fan_zone(enrolment.fan, series.talent)
            if enrolment.fan.status != Fan.Status.ACTIVE:
                # An automation never texts a fan who is not active; a STOP ends the series for good.
                enrolment.status, enrolment.next_due_at = E.STOPPED, None
                result.stopped += 1
                continue
            step = next_step(enrolment, steps)
            if step is None:
                enrolment.status, enrolment.next_due_at = E.COMPLETED, None
                continue
            due_at = add_delay(enrolment.anchor_at, step.delay_minutes, tz)
            if enrolment.waiting_reason != "frequency_cap" and due_at > now:
                enrolment.next_due_at = due_at  # the step was edited since it was planned
                continue
            by_step.setdefault(step.pk, []).append(enrolment)
        for step_pk, group in by_step.items():
            step = step_of[step_pk]
            handed = occurrence_start(
                talent=series.talent,
                name=f"Automation · {series.name} · step {step.position} · {now:%Y-%m-%d %H:%M} UTC",
                body=step.body,
                not_marketing=step.not_marketing,
                fan_ids=[e.fan_id for e in group],
                now=now,
                link={"step": step, "series": series, "position": step.position},
            )
            sends = []
            for enrolment in group:
                if enrolment.fan_id in handed.leaves_at:
                    sends.append(
                        WelcomeStepSend(
                            enrolment=enrolment,
                            fan_id=enrolment.fan_id,
                            step=step,
                            position=step.position,
                            campaign=handed.campaign,
                        )
                    )
                    enrolment.next_position = step.position + 1
                    enrolment.anchor_at = handed.leaves_at[enrolment.fan_id]
                    enrolment.waiting_reason = ""
                    _plan(enrolment, steps, fan_zone(enrolment.fan, series.talent))
                elif enrolment.fan_id in handed.capped_until:
                    # Waits for the next allowed time; the steps after it wait behind it.
                    enrolment.next_due_at = handed.capped_until[enrolment.fan_id]
                    enrolment.waiting_reason = "frequency_cap"
                    result.capped += 1
                else:  # no row: the fan went inactive between the lock and the insert
                    enrolment.status, enrolment.next_due_at = E.STOPPED, None
            # The unique (enrolment, position) makes a second hand-over of a step fail loudly.
            WelcomeStepSend.objects.bulk_create(sends)
            result.handed += len(sends)
            if handed.campaign is not None:
                result.campaigns.append(handed.campaign.pk)
        WelcomeEnrolment.objects.bulk_update(
            due, ["status", "next_position", "anchor_at", "next_due_at", "waiting_reason", "updated_at"]
        )
    return len(due) == BATCH


def series_steps_changed(*, series: WelcomeSeries) -> int:
    """After an edit: re-plan every waiting fan (only steps not yet handed over change)."""
    steps = list(series.steps.all())
    count = 0
    with transaction.atomic():
        waiting = list(
            WelcomeEnrolment.objects.select_for_update()
            .filter(series=series, status=E.ACTIVE)
            .select_related("fan", "talent")
        )
        for enrolment in waiting:
            held_until = enrolment.next_due_at if enrolment.waiting_reason == "frequency_cap" else None
            _plan(enrolment, steps, fan_zone(enrolment.fan, enrolment.talent))
            if held_until and enrolment.next_due_at:
                enrolment.next_due_at = max(enrolment.next_due_at, held_until)
            count += 1
        WelcomeEnrolment.objects.bulk_update(waiting, ["status", "next_due_at", "updated_at"])
    return count


def series_check_steps(steps: list[dict[str, Any]]) -> None:
    """The rules of a series' steps a form cannot see one step at a time."""
    if len(steps) > 5:
        raise ValidationError("A welcome series has at most five steps.")
    positions = [s["position"] for s in steps]
    if len(set(positions)) != len(positions):
        raise ValidationError("Two steps have the same number: give each step its own.")


def series_go_live(*, series: WelcomeSeries, actor: Any) -> WelcomeSeries:
    if not series.steps.exists():
        raise ValidationError("Add at least one step before the series goes live.")
    other = WelcomeSeries.objects.filter(talent_id=series.talent_id, status__in=[AS.LIVE, AS.PAUSED])
    if other.exclude(pk=series.pk).exists():
        raise ValidationError("Another welcome series is live or paused: cancel it first (a fan gets one welcome).")
    return automation_transition(obj=series, action="go_live", actor=actor)


def series_pause(*, series: WelcomeSeries, actor: Any) -> WelcomeSeries:
    """Nothing more goes out (texts already handed over are paused too); resume continues."""
    return automation_transition(obj=series, action="pause", actor=actor)


def series_resume(*, series: WelcomeSeries, actor: Any) -> WelcomeSeries:
    return automation_transition(obj=series, action="resume", actor=actor)


def series_cancel(*, series: WelcomeSeries, actor: Any) -> WelcomeSeries:
    """Stop for everyone in the series: every waiting fan and every text not yet claimed."""
    return automation_transition(obj=series, action="cancel", actor=actor)


def series_report(*, series: WelcomeSeries) -> list[dict[str, Any]]:
    """Per step: the engine's figures (sent, delivered, clicks, replies, opt-outs) and who waits."""
    rows = []
    waiting = WelcomeEnrolment.objects.filter(series=series, status=E.ACTIVE)
    for step in series.steps.all():
        campaigns = [a.campaign for a in AutomationCampaign.objects.filter(step=step).select_related("campaign")]
        figures = occurrences_report(campaigns=campaigns)
        rows.append(
            {
                "step": step,
                **figures,
                "waiting": waiting.filter(next_position__lte=step.position).count(),
                "held_by_cap": waiting.filter(next_position=step.position, waiting_reason="frequency_cap").count(),
            }
        )
    return rows


def scheduled_run_due(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The periodic task's one service: welcome steps, then date messages. Campaign ids to send."""
    now = now or timezone.now()
    welcome = series_run_due(now=now)
    dated = dates.dates_run_due(now=now)
    return {
        "campaigns": welcome.campaigns + dated.campaigns,
        "welcome_handed": welcome.handed,
        "welcome_capped": welcome.capped,
        "welcome_stopped": welcome.stopped,
        "dates_handed": dated.handed,
    }


def automations_upcoming(*, talent_ids: set[int] | None, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """What will go out in the next 24 hours, per automation and step: fans whose step or date
    falls due (or is overdue, e.g. while paused) and texts the engine holds for quiet hours."""
    now = now or timezone.now()
    until = now + dt.timedelta(hours=24)
    found: list[dict[str, Any]] = []
    running = [AS.LIVE, AS.PAUSED]
    series_qs = WelcomeSeries.objects.filter(status__in=running).select_related("talent")
    if talent_ids is not None:
        series_qs = series_qs.filter(talent_id__in=talent_ids)
    for series in series_qs:
        steps = list(series.steps.all())
        due = (
            WelcomeEnrolment.objects.filter(series=series, status=E.ACTIVE, next_due_at__lt=until)
            .values("next_position", "waiting_reason")
            .annotate(n=Count("id"), first=Min("next_due_at"))
            .order_by("next_position")
        )
        for group in due:
            step = next((s for s in steps if s.position >= group["next_position"]), None)
            if step is None:
                continue
            note = "held by the frequency cap until the time shown" if group["waiting_reason"] else ""
            found.append(_upcoming(series, f"Step {step.position}", group["n"], group["first"], note, now))
    dated = DateEnrolment.objects.filter(
        message__status__in=running, status=DateEnrolment.Status.ACTIVE, next_due_at__lt=until
    )
    if talent_ids is not None:
        dated = dated.filter(talent_id__in=talent_ids)
    for group in dated.values("message").annotate(n=Count("id"), first=Min("next_due_at")).order_by("first"):
        message = DateMessage.objects.select_related("talent").get(pk=group["message"])
        found.append(_upcoming(message, message.get_kind_display(), group["n"], group["first"], "", now))
    held = OutboundMessage.objects.filter(
        campaign__automation__isnull=False,
        campaign__status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED],
        status=OutboundMessage.Status.PENDING,
        not_before__lt=until,
    )
    if talent_ids is not None:
        held = held.filter(talent_id__in=talent_ids)
    for group in (
        held.values(
            "campaign__automation__series", "campaign__automation__position", "campaign__automation__date_message"
        )
        .annotate(n=Count("id"), first=Min("not_before"))
        .order_by("first")
    ):
        if group["campaign__automation__series"]:
            owner: Any = WelcomeSeries.objects.select_related("talent").get(pk=group["campaign__automation__series"])
            what = f"Step {group['campaign__automation__position']}"
        else:
            owner = DateMessage.objects.select_related("talent").get(pk=group["campaign__automation__date_message"])
            what = owner.get_kind_display()
        note = "handed to the sending engine; waiting for the fans' quiet hours to end"
        found.append(_upcoming(owner, what, group["n"], group["first"], note, now))
    return sorted(found, key=lambda row: row["first_at"])


def _upcoming(owner: Any, what: str, count: int, first: dt.datetime, note: str, now: dt.datetime) -> dict[str, Any]:
    paused = owner.status == AS.PAUSED
    return {
        "automation": owner,
        "kind": "Welcome series" if isinstance(owner, WelcomeSeries) else "Date message",
        "what": what,
        "count": count,
        "first_at": max(first, now),
        "zone": owner.talent.default_time_zone,
        "note": "paused: goes out when resumed" if paused else note,
    }
