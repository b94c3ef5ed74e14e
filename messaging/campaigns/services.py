"""Campaign lifecycle: estimate, schedule, approve, pause, resume, cancel, dispatch, report.

The console, the API and the management commands call these; none of them changes a campaign's
status directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Min, Sum
from django.utils import timezone

from accounts import permissions
from accounts.audit import audit
from accounts.models import Fan
from consent.models import ConsentRecord
from messaging.audience.services import AudienceError, audience_queryset
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign, CampaignStateError, Click, TrackedLink
from messaging.campaigns.queue import enqueue_dispatch, enqueue_send
from messaging.campaigns.render import (
    PREVIEW_MESSAGE_ID,
    FanFields,
    Framing,
    framing_warnings,
    link_urls,
    preview_link_codes,
    render_body,
    validate_body,
)
from messaging.sms.backends import SmsError, SmsMessage, get_backend
from messaging.sms.models import InboundMessage, OutboundMessage
from messaging.sms.parts import SmsParts, sms_parts

S = OutboundMessage.Status
CS = Campaign.Status


def campaign_audience(*, campaign: Campaign, active_only: bool = True):
    """The campaign's fans (lists and segments, each fan once); active ones unless asked otherwise."""
    try:
        fans = audience_queryset(
            talent=campaign.talent,
            include_lists=campaign.include_lists.all(),
            include_segments=campaign.include_segments.all(),
            exclude_lists=campaign.exclude_lists.all(),
            exclude_segments=campaign.exclude_segments.all(),
        )
    except AudienceError as exc:
        raise ValidationError(str(exc)) from exc
    return fans.filter(status=Fan.Status.ACTIVE) if active_only else fans


# --- compose helpers ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    preview: str
    info: SmsParts
    recipients: int
    parts_total: int
    cost: float
    currency: str = "USD"
    warnings: tuple[str, ...] = ()
    # How long sending takes with the talent's senders (issue 17), e.g. "About 1 h 20 min at 75/s
    # on 3 senders; 40,000 over today's T-Mobile cap go tomorrow." ("" when no planner is set up).
    duration: str = ""


@dataclass(frozen=True)
class SendPlan:
    duration: str
    warnings: tuple[str, ...] = ()


# The send-time planner lives with the sender pool in messaging.sending, a layer above this one,
# so it registers itself here (messaging/apps.py) instead of being imported: called with talent=,
# fans= (the audience queryset), parts_per_text=, start=, ignore_quiet_hours=; returns a SendPlan.
SEND_PLANNERS: list[Any] = []


def _send_plan(*, talent, fans, parts_per_text: int, start: dt.datetime | None, ignore_quiet_hours: bool) -> SendPlan:
    duration, warnings = "", []
    for planner in SEND_PLANNERS:
        found = planner(
            talent=talent,
            fans=fans,
            parts_per_text=parts_per_text,
            start=max(start or timezone.now(), timezone.now()),
            ignore_quiet_hours=ignore_quiet_hours,
        )
        duration = duration or found.duration
        warnings += found.warnings
    return SendPlan(duration, tuple(warnings))


def campaign_preview(*, body: str, fan: Fan | None, framing: Framing | None = None) -> str:
    """The text a fan gets, with the talent's prefix and opt-out line (the longer variant)."""
    fields = FanFields(fan.first_name, fan.city) if fan else FanFields("Alex", "Austin")
    text = render_body(body, fields, link_codes=preview_link_codes(body), message_id=PREVIEW_MESSAGE_ID)
    return framing.apply(text) if framing else text


def _estimate(*, body: str, framing: Framing, preview: str, info, recipients: int, plan: SendPlan) -> Estimate:
    total = info.parts * recipients
    return Estimate(
        preview,
        info,
        recipients,
        total,
        round(total * settings.SMS_SEGMENT_PRICE, 2),
        warnings=(tuple(framing_warnings(body, framing)) if body.strip() else ()) + plan.warnings,
        duration=plan.duration,
    )


def campaign_estimate(*, campaign: Campaign, body: str | None = None, fan: Fan | None = None) -> Estimate:
    """What the console shows beside the composer: preview, counter, recipients, cost."""
    body = campaign.body if body is None else body
    if fan is None:
        fan = campaign_audience(campaign=campaign).order_by("id").first() if campaign.talent_id else None
    framing = Framing.of(campaign.talent) if campaign.talent_id else Framing()
    preview = campaign_preview(body=body, fan=fan, framing=framing)
    info = sms_parts(preview)
    recipients = campaign_audience(campaign=campaign).count() if campaign.talent_id else 0
    plan = SendPlan("")
    if campaign.talent_id and recipients:
        plan = _send_plan(
            talent=campaign.talent,
            fans=campaign_audience(campaign=campaign),
            parts_per_text=info.parts,
            start=campaign.send_at,
            ignore_quiet_hours=campaign.ignore_quiet_hours,
        )
    return _estimate(body=body, framing=framing, preview=preview, info=info, recipients=recipients, plan=plan)


def audience_estimate(
    *,
    talent,
    body: str,
    include_lists=(),
    include_segments=(),
    exclude_lists=(),
    exclude_segments=(),
) -> Estimate:
    """The composer's live figures for a campaign not saved yet: the same math as campaign_estimate."""
    try:
        fans = audience_queryset(
            talent=talent,
            include_lists=include_lists,
            include_segments=include_segments,
            exclude_lists=exclude_lists,
            exclude_segments=exclude_segments,
        ).filter(status=Fan.Status.ACTIVE)
    except AudienceError as exc:
        raise ValidationError(str(exc)) from exc
    framing = Framing.of(talent)
    preview = campaign_preview(body=body, fan=fans.order_by("id").first(), framing=framing)
    info = sms_parts(preview)
    recipients = fans.count()
    plan = SendPlan("")
    if recipients:
        plan = _send_plan(talent=talent, fans=fans, parts_per_text=info.parts, start=None, ignore_quiet_hours=False)
    return _estimate(body=body, framing=framing, preview=preview, info=info, recipients=recipients, plan=plan)


def _sender_fields(actor: Any) -> FanFields:
    """The sender's own name in the merge fields, so a test shows how a real name reads."""
    name = (getattr(actor, "first_name", "") or getattr(actor, "get_username", lambda: "")() or "").strip()
    return FanFields(name or "Alex", "")


def campaign_send_test(*, campaign: Campaign, to_number: str, actor: Any) -> OutboundMessage:
    """Send the text, as the sender would receive it, to a number the sender types.

    The row belongs to the campaign (so its tracked link resolves and works) but is kind SYSTEM and
    has no fan: every report figure counts kind CAMPAIGN rows only, so a test and its clicks are
    never counted. The text starts with [TEST].
    """
    from phonenumbers import NumberParseException, PhoneNumberFormat, format_number, is_valid_number, parse

    try:
        parsed = parse(to_number, settings.PHONENUMBER_DEFAULT_REGION)
    except NumberParseException:
        parsed = None
    if parsed is None or not is_valid_number(parsed):
        raise ValidationError(f"{to_number!r} is not a valid phone number; write it as +14155550123.")
    e164 = format_number(parsed, PhoneNumberFormat.E164)
    validate_body(campaign.body)
    talent = campaign.talent
    with transaction.atomic():
        links = {
            url: TrackedLink.objects.get_or_create(campaign=campaign, url=url)[0].code
            for url in link_urls(campaign.body)
        }
        row = OutboundMessage.objects.create(
            talent=talent,
            campaign=campaign,
            kind=OutboundMessage.Kind.SYSTEM,
            to_number=e164,
            body="",
            media_url=campaign.media,
            status=S.QUEUED,  # never pending or claimed: the claim, the sweeper and completion skip it
            sent_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        text = render_body(campaign.body, _sender_fields(actor), link_codes=links, message_id=row.pk)
        body = "[TEST] " + Framing.of(talent).apply(text)
        row.body, row.parts = body, max(1, sms_parts(body).parts)
        row.save(update_fields=["body", "parts", "updated_at"])
    message = SmsMessage(
        to=e164,
        body=body,
        from_=str(talent.sender_number or "") if not talent.messaging_service_sid else "",
        messaging_service_sid=talent.messaging_service_sid,
        media_urls=(campaign.media,) if campaign.media else (),
    )
    try:
        result = get_backend().send(message)
    except SmsError as error:
        row.status = S.FAILED
        row.error_code = error.code[:16]
        row.error_message = str(error)[:300]
        row.save(update_fields=["status", "error_code", "error_message", "updated_at"])
        raise ValidationError(f"The test text was not sent: {error}") from error
    row.status = S.QUEUED
    row.provider_sid = result.sid
    row.sent_at = timezone.now()
    row.save(update_fields=["status", "provider_sid", "sent_at", "updated_at"])
    audit("campaign.test_sent", talent=talent, actor=actor, obj=campaign)
    return row


# --- lifecycle ----------------------------------------------------------------------------------
def _require(actor: Any, capability: str, campaign: Campaign) -> None:
    if actor is None:  # operators' management commands run with the server's authority
        return
    if not permissions.can(actor, capability, campaign.talent_id):
        raise PermissionDenied(f"You may not {capability} campaigns of {campaign.talent}.")


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


def campaign_schedule(*, campaign: Campaign, actor: Any, now: dt.datetime | None = None) -> Campaign:
    """Validate a draft and schedule it; above the talent's threshold it waits for a second person."""
    now = now or timezone.now()
    _require(actor, "compose", campaign)
    validate_body(campaign.body)
    campaign.full_clean(exclude=["include_lists", "exclude_lists", "include_segments", "exclude_segments"])
    start = _start_instant(campaign, now)
    recipients = campaign_audience(campaign=campaign).count()
    if recipients == 0:
        raise ValidationError("The audience is empty: nobody would receive this campaign.")
    needs_approval = recipients > campaign.talent.approval_threshold
    with transaction.atomic():
        campaign.transition(
            "schedule",
            CS.AWAITING_APPROVAL if needs_approval else CS.SCHEDULED,
            send_at=start,
            estimated_recipients=recipients,
            scheduled_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        for url in link_urls(campaign.body):
            TrackedLink.objects.get_or_create(campaign=campaign, url=url)
        audit(
            "campaign.scheduled",
            talent=campaign.talent,
            actor=actor,
            obj=campaign,
            send_at=start.isoformat(),
            mode=campaign.schedule_mode,
            recipients=recipients,
            needs_approval=needs_approval,
        )
        if campaign.ignore_quiet_hours:
            # The legal exception is on the person who ticked it: the audit log says who and when.
            audit("campaign.quiet_hours_override", talent=campaign.talent, actor=actor, obj=campaign)
    if needs_approval:
        transaction.on_commit(lambda: campaign_notify_approvers(campaign=campaign))
    elif start <= now:
        transaction.on_commit(enqueue_dispatch)
    return campaign


def campaign_approve(*, campaign: Campaign, actor: Any) -> Campaign:
    """A second team member (not the one who scheduled it) approves a large campaign."""
    if actor is None:
        raise PermissionDenied("Approval needs a team member.")
    _require(actor, "approve", campaign)
    if campaign.scheduled_by_id and campaign.scheduled_by_id == actor.pk:
        raise PermissionDenied("A second team member must approve: you scheduled this campaign.")
    with transaction.atomic():
        campaign.transition("approve", CS.SCHEDULED, approved_by=actor, approved_at=timezone.now())
        audit("campaign.approved", talent=campaign.talent, actor=actor, obj=campaign)
    if campaign.send_at and campaign.send_at <= timezone.now():
        transaction.on_commit(enqueue_dispatch)
    return campaign


def campaign_pause(*, campaign: Campaign, actor: Any, reason: str = "Paused by the team.") -> Campaign:
    _require(actor, "compose", campaign)
    with transaction.atomic():
        campaign.transition("pause", CS.PAUSED, paused_reason=reason[:200])
        audit("campaign.paused", talent=campaign.talent, actor=actor, obj=campaign, reason=reason[:200])
    return campaign


def campaign_resume(*, campaign: Campaign, actor: Any) -> Campaign:
    """Continue where it stopped: sending if it had started, scheduled otherwise."""
    _require(actor, "compose", campaign)
    campaign.refresh_from_db(fields=["status", "started_at"])
    target = CS.SENDING if campaign.started_at else CS.SCHEDULED
    with transaction.atomic():
        campaign.transition("resume", target, paused_reason="")
        audit("campaign.resumed", talent=campaign.talent, actor=actor, obj=campaign)
        if target == CS.SENDING:
            transaction.on_commit(lambda: enqueue_send(campaign.pk))
    return campaign


def campaign_cancel(*, campaign: Campaign, actor: Any) -> Campaign:
    """Stop for good: rows not yet claimed are cancelled (rows already leaving finish)."""
    _require(actor, "compose", campaign)
    now = timezone.now()
    with transaction.atomic():
        campaign.transition("cancel", CS.CANCELLED, finished_at=now)
        cancelled = OutboundMessage.objects.filter(campaign=campaign, status=S.PENDING).update(
            status=S.CANCELLED, updated_at=now
        )
        audit("campaign.cancelled", talent=campaign.talent, actor=actor, obj=campaign, unsent=cancelled)
    return campaign


# --- report -------------------------------------------------------------------------------------
FAILED_STATES = [S.FAILED, S.UNDELIVERED]
SENT_STATES = [S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED]


def campaign_report(*, campaign: Campaign) -> dict[str, Any]:
    """The figures of the report page and of `manage.py campaign_report` (one pass per table)."""
    if campaign.archived_report is not None:
        # Its message rows went to the archive (messaging/sending/archive.py) with these figures.
        return {**campaign.archived_report, "id": campaign.pk, "name": campaign.name, "status": campaign.status}
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
    return {
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
    report = campaign_report(campaign=campaign)
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
    capped_estimate: int | None  # fans at the daily cap now (None: checked when it starts)
    cap: int
    needs_approval: bool
    warnings: list[str]


CAP_EXACT_LIMIT = 200_000  # above this many recent rows the cap is estimated, then applied at start


def campaign_schedule_plan(*, campaign: Campaign, now: dt.datetime | None = None) -> SchedulePlan:
    """What scheduling would do, without doing it: when, how many, cost, what quiet hours and the cap hold.

    The zones come from one GROUP BY time_zone of the audience (index (talent, time_zone)); the
    quiet-hours math is the send engine's (scheduling.next_allowed), per zone.
    """
    now = now or timezone.now()
    validate_body(campaign.body)
    start = _start_instant(campaign, now)
    talent = campaign.talent
    fans = campaign_audience(campaign=campaign)
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
    capped = None
    cap = talent.daily_frequency_cap
    if cap:
        recent = Campaign.objects.filter(talent=talent, started_at__gte=start - dt.timedelta(days=1)).exclude(
            pk=campaign.pk
        )
        recent_rows = sum(c.recipients_count or 0 for c in recent)
        if recent_rows <= CAP_EXACT_LIMIT:
            capped = (
                OutboundMessage.objects.filter(campaign__in=recent, kind=OutboundMessage.Kind.CAMPAIGN)
                .exclude(status__in=[S.SUPPRESSED, S.CANCELLED, S.FAILED])
                .filter(fan_id__in=fans.values("id"))
                .values("fan_id")
                .annotate(n=Count("id"))
                .filter(n__gte=cap)
                .count()
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
        cap=cap,
        needs_approval=recipients > talent.approval_threshold,
        warnings=list(estimate.warnings),
    )


# --- duplicate ----------------------------------------------------------------------------------
def campaign_duplicate(*, campaign: Campaign, actor: Any) -> Campaign:
    """A new draft with the same text, media, audience and schedule settings (times cleared)."""
    _require(actor, "compose", campaign)
    with transaction.atomic():
        copy = Campaign.objects.create(
            talent=campaign.talent,
            name=f"Copy of {campaign.name}"[:200],
            body=campaign.body,
            media_url=campaign.media_url,
            media_file=campaign.media_file.name if campaign.media_file else "",
            schedule_mode=campaign.schedule_mode,
            local_time=campaign.local_time,
            late_policy=campaign.late_policy,
            ignore_quiet_hours=False,  # an override is a decision made again, never copied
            relevance_hours=campaign.relevance_hours,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            duplicated_from=campaign,
        )
        copy.include_lists.set(campaign.include_lists.all())
        copy.exclude_lists.set(campaign.exclude_lists.all())
        copy.include_segments.set(campaign.include_segments.all())
        copy.exclude_segments.set(campaign.exclude_segments.all())
        audit("campaign.duplicated", talent=campaign.talent, actor=actor, obj=copy, source=campaign.pk)
    return copy


# --- approval notice ----------------------------------------------------------------------------
def campaign_approvers(*, campaign: Campaign):
    """Team members who may approve (owners and managers), the person who scheduled it excepted."""
    from accounts.models import TeamMember

    roles = [r for r in TeamMember.Role.values if r in permissions.CAPABILITIES["approve"]]
    members = TeamMember.objects.filter(talent=campaign.talent, role__in=roles, user__is_active=True).select_related(
        "user"
    )
    return [m.user for m in members if m.user_id != campaign.scheduled_by_id and m.user.email]


def campaign_notify_approvers(*, campaign: Campaign) -> int:
    """Email each possible approver that a campaign waits for them (after commit; a failed mail is logged)."""
    import logging

    from django.core.mail import send_mail
    from django.urls import reverse

    users = campaign_approvers(campaign=campaign)
    if not users:
        return 0
    url = settings.PUBLIC_BASE_URL + reverse("admin:messaging_campaign_change", args=[campaign.pk])
    who = campaign.scheduled_by.get_username() if campaign.scheduled_by else "A team member"
    body = (
        f'{who} scheduled "{campaign.name}" for {campaign.estimated_recipients or 0:,} fans of '
        f"{campaign.talent}. It needs a second person's approval before it sends.\n\n"
        f"Review and approve it here: {url}\n"
    )
    try:
        return send_mail(f"Approval needed: {campaign.name}", body, None, [u.email for u in users], fail_silently=False)
    except Exception:  # the campaign still waits in the list, marked "awaiting approval"
        logging.getLogger(__name__).exception("approval mail for campaign %s failed", campaign.pk)
        return 0


__all__ = [
    "CampaignStateError",
    "audience_estimate",
    "campaign_duplicate",
    "campaign_holds",
    "campaign_results_refresh",
    "campaign_schedule_plan",
    "campaign_approve",
    "campaign_cancel",
    "campaign_estimate",
    "campaign_pause",
    "campaign_report",
    "campaign_resume",
    "campaign_schedule",
    "campaign_send_test",
]


# --- the composer's audience picker -------------------------------------------------------------
AUDIENCE_SIZES_SECONDS = 300
AUDIENCE_SIZED_SEGMENTS = 20  # each size is a count over the talent's fans: the first ones only


def audience_choices(*, talent) -> list[dict]:
    """The talent's lists and segments with their reachable size (active fans), for the picker.

    Sizes are cached for five minutes per talent: a segment's count over a million fans takes a
    quarter of a second, and the composer is opened often.
    """
    from django.core.cache import cache

    from messaging.audience.models import ContactList, ContactListMember, Segment
    from messaging.audience.services import segment_queryset

    key = f"campaign:audience-choices:{talent.pk}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    lists = list(ContactList.objects.filter(talent=talent).order_by("name").values_list("id", "name"))
    sizes = dict(
        ContactListMember.objects.filter(contact_list__talent=talent, fan__status=Fan.Status.ACTIVE)
        .values_list("contact_list")
        .annotate(n=Count("id"))
        .order_by()
    )
    out = [{"kind": "list", "id": pk, "name": name, "size": sizes.get(pk, 0)} for pk, name in lists]
    for i, segment in enumerate(Segment.objects.filter(talent=talent).order_by("-is_builtin", "name")):
        size = (
            segment_queryset(segment).filter(status=Fan.Status.ACTIVE).count() if i < AUDIENCE_SIZED_SEGMENTS else None
        )
        out.append({"kind": "segment", "id": segment.pk, "name": segment.name, "size": size})
    cache.set(key, out, AUDIENCE_SIZES_SECONDS)
    return out
