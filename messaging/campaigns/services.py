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


def campaign_preview(*, body: str, fan: Fan | None) -> str:
    fields = FanFields(fan.first_name, fan.city) if fan else FanFields("Alex", "Austin")
    return render_body(body, fields, link_codes=preview_link_codes(body), message_id=PREVIEW_MESSAGE_ID)


def campaign_estimate(*, campaign: Campaign, body: str | None = None, fan: Fan | None = None) -> Estimate:
    """What the console shows beside the composer: preview, counter, recipients, cost."""
    body = campaign.body if body is None else body
    if fan is None:
        fan = campaign_audience(campaign=campaign).order_by("id").first() if campaign.talent_id else None
    preview = campaign_preview(body=body, fan=fan)
    info = sms_parts(preview)
    recipients = campaign_audience(campaign=campaign).count() if campaign.talent_id else 0
    total = info.parts * recipients
    return Estimate(preview, info, recipients, total, round(total * settings.SMS_SEGMENT_PRICE, 2))


def campaign_send_test(*, campaign: Campaign, to_number: str, actor: Any) -> OutboundMessage:
    """Send the rendered text (as the first audience fan would get it) to a team member's phone."""
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
    body = "[TEST] " + campaign_preview(body=campaign.body, fan=campaign_audience(campaign=campaign).first())
    row = OutboundMessage.objects.create(
        talent=talent,
        kind=OutboundMessage.Kind.SYSTEM,
        to_number=e164,
        body=body,
        media_url=campaign.media,
        parts=max(1, sms_parts(body).parts),
        sent_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
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
    if not needs_approval and start <= now:
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
    rows = OutboundMessage.objects.filter(campaign=campaign)
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
        Click.objects.filter(link__campaign=campaign, message__isnull=False).values("message_id").distinct().count()
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
        "segments": segments,
        "cost": round(segments * settings.SMS_SEGMENT_PRICE, 2),
    }


__all__ = [
    "CampaignStateError",
    "campaign_approve",
    "campaign_cancel",
    "campaign_estimate",
    "campaign_pause",
    "campaign_report",
    "campaign_resume",
    "campaign_schedule",
    "campaign_send_test",
]
