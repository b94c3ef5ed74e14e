"""Campaign lifecycle: schedule, approve, pause, resume, cancel, duplicate, the approvers' mail.

The console, the API and the management commands call these; none of them changes a campaign's
status directly. The rest of the campaign services live by area and are re-exported here, the one
import path callers (the API, the send engine, commands, tasks) use: `estimates.py` (the composer's
figures and picker), `planning.py` (the confirmation before scheduling), `reports.py` (report,
stored results, why texts wait), `trial_send.py` (a test send).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import permissions
from accounts.actors import require
from accounts.audit import audit
from messaging.audience.services import reachable
from messaging.campaigns.estimates import (
    AUDIENCE_SIZED_SEGMENTS,
    AUDIENCE_SIZES_SECONDS,
    SEND_PLANNERS,
    Estimate,
    SendPlan,
    audience_choices,
    audience_estimate,
    campaign_audience,
    campaign_estimate,
    campaign_preview,
)
from messaging.campaigns.models import Campaign, CampaignStateError, TrackedLink
from messaging.campaigns.planning import CAP_EXACT_LIMIT, SchedulePlan, _start_instant, campaign_schedule_plan
from messaging.campaigns.queue import enqueue_dispatch, enqueue_send
from messaging.campaigns.render import (
    link_urls,
    validate_body,
)
from messaging.campaigns.reports import (
    FAILED_STATES,
    RESULT_KEYS,
    RESULTS_FRESH,
    RESULTS_SETTLE,
    SENT_STATES,
    Hold,
    campaign_holds,
    campaign_report,
    campaign_results_refresh,
    campaigns_results_due,
)
from messaging.campaigns.trial_send import campaign_send_test
from messaging.sms.models import OutboundMessage

S = OutboundMessage.Status
CS = Campaign.Status


# --- lifecycle ----------------------------------------------------------------------------------
# Every service asks the one check (accounts/actors.py): a team member by their role in the
# campaign's talent, an API token by its scopes and its creator's role, `actor=None` (commands,
# tasks) as the system. A refusal is NotAllowed, a PermissionDenied the admin and DRF answer 403.
def _refusal(capability: str, campaign: Campaign) -> str:
    return f"You may not {capability} campaigns of {campaign.talent}."


def campaign_schedule(*, campaign: Campaign, actor: Any, now: dt.datetime | None = None) -> Campaign:
    """Validate a draft and schedule it; above the talent's threshold it waits for a second person."""
    now = now or timezone.now()
    require(actor, "compose", campaign.talent_id, refusal=_refusal("compose", campaign))
    validate_body(campaign.body)
    campaign.full_clean(exclude=["include_lists", "exclude_lists", "include_segments", "exclude_segments"])
    start = _start_instant(campaign, now)
    recipients = reachable(campaign_audience(campaign=campaign)).count()
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
    require(actor, "approve", campaign.talent_id, refusal=_refusal("approve", campaign))
    if campaign.scheduled_by_id and campaign.scheduled_by_id == actor.pk:
        raise PermissionDenied("A second team member must approve: you scheduled this campaign.")
    with transaction.atomic():
        campaign.transition("approve", CS.SCHEDULED, approved_by=actor, approved_at=timezone.now())
        audit("campaign.approved", talent=campaign.talent, actor=actor, obj=campaign)
    if campaign.send_at and campaign.send_at <= timezone.now():
        transaction.on_commit(enqueue_dispatch)
    return campaign


def campaign_pause(*, campaign: Campaign, actor: Any, reason: str = "Paused by the team.") -> Campaign:
    require(actor, "compose", campaign.talent_id, refusal=_refusal("compose", campaign))
    with transaction.atomic():
        campaign.transition("pause", CS.PAUSED, paused_reason=reason[:200])
        audit("campaign.paused", talent=campaign.talent, actor=actor, obj=campaign, reason=reason[:200])
    return campaign


def campaign_resume(*, campaign: Campaign, actor: Any) -> Campaign:
    """Continue where it stopped: sending if it had started, scheduled otherwise."""
    require(actor, "compose", campaign.talent_id, refusal=_refusal("compose", campaign))
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
    require(actor, "compose", campaign.talent_id, refusal=_refusal("compose", campaign))
    now = timezone.now()
    with transaction.atomic():
        campaign.transition("cancel", CS.CANCELLED, finished_at=now)
        cancelled = OutboundMessage.objects.filter(campaign=campaign, status=S.PENDING).update(
            status=S.CANCELLED, updated_at=now
        )
        audit("campaign.cancelled", talent=campaign.talent, actor=actor, obj=campaign, unsent=cancelled)
    return campaign


# --- duplicate ----------------------------------------------------------------------------------
def campaign_duplicate(*, campaign: Campaign, actor: Any) -> Campaign:
    """A new draft with the same text, media, audience and schedule settings (times cleared)."""
    require(actor, "compose", campaign.talent_id, refusal=_refusal("compose", campaign))
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
    "AUDIENCE_SIZED_SEGMENTS",
    "AUDIENCE_SIZES_SECONDS",
    "CAP_EXACT_LIMIT",
    "FAILED_STATES",
    "RESULTS_FRESH",
    "RESULTS_SETTLE",
    "RESULT_KEYS",
    "SEND_PLANNERS",
    "SENT_STATES",
    "CampaignStateError",
    "Estimate",
    "Hold",
    "SchedulePlan",
    "SendPlan",
    "audience_choices",
    "audience_estimate",
    "campaign_approve",
    "campaign_approvers",
    "campaign_audience",
    "campaign_cancel",
    "campaign_duplicate",
    "campaign_estimate",
    "campaign_holds",
    "campaign_notify_approvers",
    "campaign_pause",
    "campaign_preview",
    "campaign_report",
    "campaign_results_refresh",
    "campaign_resume",
    "campaign_schedule",
    "campaign_schedule_plan",
    "campaign_send_test",
    "campaigns_results_due",
]
