"""Handing due automated texts to the campaign engine, and the lifecycle every automation shares.

An occurrence campaign is a system Campaign created already `sending` for one step (or date
message) and one scheduler run, with exactly the fans due in that run as recipients. Its rows are
made by the engine's own materialise (`campaign_materialise(fans=...)`), so the frequency cap,
dead numbers, quiet hours (unless the step is not marketing) are applied as for any blast, and
the claim re-checks STOP before each text leaves. Why a new campaign per run rather than one per
step: a campaign completes once no row waits, and adding rows to a completed (or completing)
campaign would strand them; a fresh campaign created `sending` with its rows in one transaction
cannot race the completion check.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from accounts import permissions
from accounts.audit import audit
from accounts.models import Fan, Talent
from messaging.automations.series_models import AutomationCampaign, AutomationStatus
from messaging.campaigns import scheduling
from messaging.campaigns.models import Campaign, TrackedLink
from messaging.campaigns.queue import enqueue_send
from messaging.campaigns.render import link_urls
from messaging.campaigns.services import campaign_cancel, campaign_pause, campaign_report, campaign_resume
from messaging.sending.engine import CAP_COUNTED, campaign_materialise
from messaging.sms.models import OutboundMessage

S = OutboundMessage.Status
AS = AutomationStatus
CAP_REASON = "frequency_cap"


def fan_zone(fan: Fan, talent: Talent) -> zoneinfo.ZoneInfo:
    try:
        return scheduling.zone(fan.time_zone or talent.default_time_zone)
    except Exception:  # a zone stored by an import that skipped validation: the talent's
        return talent.tz


@dataclass
class Handed:
    """What the engine took: each fan's row and when it may leave; fans the cap holds, and until when."""

    campaign: Campaign | None = None
    leaves_at: dict[int, dt.datetime] = field(default_factory=dict)
    capped_until: dict[int, dt.datetime] = field(default_factory=dict)


def occurrence_start(
    *,
    talent: Talent,
    name: str,
    body: str,
    not_marketing: bool,
    fan_ids: list[int],
    now: dt.datetime,
    link: dict[str, Any],
) -> Handed:
    """Create one occurrence campaign for `fan_ids` and materialise their rows (caller's transaction).

    Fans the frequency cap would suppress get no row: their row is removed in this transaction and
    they are returned with the time the cap frees them, so the step waits instead of being dropped.
    """
    assert transaction.get_connection().in_atomic_block, "run inside the scheduler's transaction"
    campaign = Campaign.objects.create(
        talent=talent,
        name=name[:200],
        body=body,
        schedule_mode=Campaign.ScheduleMode.NOW,
        send_at=now,
        status=Campaign.Status.SENDING,
        started_at=now,
        ignore_quiet_hours=not_marketing,
    )
    for url in link_urls(body):
        TrackedLink.objects.get_or_create(campaign=campaign, url=url)
    fans = Fan.objects.filter(pk__in=fan_ids, status=Fan.Status.ACTIVE).order_by()
    campaign_materialise(campaign=campaign, now=now, fans=fans)
    rows = OutboundMessage.objects.filter(campaign=campaign)
    capped = list(rows.filter(status=S.SUPPRESSED, error_code=CAP_REASON).values_list("fan_id", flat=True))
    handed = Handed()
    if capped:
        handed.capped_until = cap_frees_at(talent=talent, fan_ids=capped, now=now, exclude=campaign)
        rows.filter(fan_id__in=capped).delete()
    handed.leaves_at = {fan_id: not_before or now for fan_id, not_before in rows.values_list("fan_id", "not_before")}
    if not handed.leaves_at:
        campaign.delete()  # everyone was capped (or went inactive): no empty campaign in the list
        return handed
    campaign.recipients_count = len(handed.leaves_at)
    campaign.save(update_fields=["recipients_count", "updated_at"])
    AutomationCampaign.objects.create(campaign=campaign, **link)
    audit("automation.handed_to_engine", talent=talent, obj=campaign, rows=len(handed.leaves_at), capped=len(capped))
    transaction.on_commit(lambda: enqueue_send(campaign.pk))
    handed.campaign = campaign
    return handed


def cap_frees_at(*, talent: Talent, fan_ids: list[int], now: dt.datetime, exclude: Campaign) -> dict[int, dt.datetime]:
    """When each capped fan's count of the last 24 h first drops: the oldest counted campaign's
    start plus a day (the engine counts campaigns started in the last day, materialise.py)."""
    since = now - dt.timedelta(days=1)
    oldest = (
        OutboundMessage.objects.filter(
            fan_id__in=fan_ids, campaign__talent=talent, campaign__started_at__gte=since, status__in=CAP_COUNTED
        )
        .exclude(campaign=exclude)
        .values("fan_id")
        .annotate(first=Min("campaign__started_at"))
        .values_list("fan_id", "first")
    )
    found = {fan_id: first + dt.timedelta(days=1, seconds=1) for fan_id, first in oldest}
    return {fan_id: found.get(fan_id, now + dt.timedelta(minutes=5)) for fan_id in fan_ids}


# --- lifecycle shared by the welcome series and date messages ---------------------------------
TRANSITIONS = {
    "go_live": ({AS.DRAFT}, AS.LIVE),
    "pause": ({AS.LIVE}, AS.PAUSED),
    "resume": ({AS.PAUSED}, AS.LIVE),
    "cancel": ({AS.DRAFT, AS.LIVE, AS.PAUSED}, AS.CANCELLED),
}
ACTION_WORDS = {"go_live": "go live", "pause": "be paused", "resume": "be resumed", "cancel": "be cancelled"}


def require(actor: Any, capability: str, talent_id: int) -> None:
    if not permissions.can(actor, capability, talent_id):
        raise PermissionDenied("Your role cannot change automations for this talent.")


def automation_transition(*, obj, action: str, actor: Any, now: dt.datetime | None = None):
    """Move a WelcomeSeries or DateMessage through its lifecycle under a row lock, and make its
    texts already handed to the engine follow: pause / resume / cancel their occurrence campaigns
    (cancel also cancels every waiting enrolment)."""
    require(actor, "compose", obj.talent_id)
    allowed, target = TRANSITIONS[action]
    now = now or timezone.now()
    model = type(obj)
    with transaction.atomic():
        locked = model.objects.select_for_update().get(pk=obj.pk)
        if locked.status not in allowed:
            raise ValidationError(
                f"{locked.name!r} is {locked.get_status_display().lower()}; it cannot {ACTION_WORDS[action]}."
            )
        locked.status = target
        fields = ["status", "updated_at"]
        if action == "go_live":
            locked.live_since = now
            fields.append("live_since")
        locked.save(update_fields=fields)
        for campaign in in_flight(obj=locked):
            if action == "pause" and campaign.status == Campaign.Status.SENDING:
                campaign_pause(campaign=campaign, actor=actor, reason="The automation was paused.")
            elif action == "resume" and campaign.status == Campaign.Status.PAUSED:
                campaign_resume(campaign=campaign, actor=actor)
            elif action == "cancel":
                campaign_cancel(campaign=campaign, actor=actor)
        if action == "cancel":  # for everyone: no waiting fan gets anything more
            locked.enrolments.filter(status="active").update(status="cancelled", next_due_at=None, updated_at=now)
        audit(f"automation.{action}", talent=locked.talent, actor=actor, obj=locked)
    obj.status, obj.live_since = locked.status, locked.live_since
    return obj


def in_flight(*, obj) -> list[Campaign]:
    """The occurrence campaigns of an automation that still have texts to send."""
    key = "series" if obj._meta.model_name == "welcomeseries" else "date_message"
    ids = AutomationCampaign.objects.filter(**{key: obj}).values("campaign_id")
    return list(Campaign.objects.filter(pk__in=ids, status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED]))


REPORT_KEYS = ("recipients", "sent", "delivered", "failed", "pending", "suppressed", "clicks", "replies", "opt_outs")


def occurrences_report(*, campaigns) -> dict[str, int]:
    """The campaign report's figures summed over a step's (or date message's) occurrence campaigns."""
    totals = dict.fromkeys(REPORT_KEYS, 0)
    for campaign in campaigns:
        figures = campaign_report(campaign=campaign)
        for key in REPORT_KEYS:
            totals[key] += figures[key]
    return totals
