"""What a campaign would be: its audience, the preview, the SMS parts counter, recipients and cost
(the composer's figures), and the audience picker's lists and segments with their sizes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from accounts.models import Fan
from messaging.audience.services import AudienceError, audience_queryset, reachable
from messaging.campaigns.models import Campaign
from messaging.campaigns.render import (
    PREVIEW_MESSAGE_ID,
    FanFields,
    Framing,
    framing_warnings,
    preview_link_codes,
    render_body,
)
from messaging.sms.models import OutboundMessage
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
    # Reachable: active fans whose number can receive texts (the engine suppresses dead numbers).
    recipients = reachable(campaign_audience(campaign=campaign)).count() if campaign.talent_id else 0
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
    recipients = reachable(fans).count()
    plan = SendPlan("")
    if recipients:
        plan = _send_plan(talent=talent, fans=fans, parts_per_text=info.parts, start=None, ignore_quiet_hours=False)
    return _estimate(body=body, framing=framing, preview=preview, info=info, recipients=recipients, plan=plan)


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
        ContactListMember.objects.filter(contact_list__talent=talent)
        .filter(Exists(reachable(Fan.objects.filter(pk=OuterRef("fan_id")))))
        .values_list("contact_list")
        .annotate(n=Count("id"))
        .order_by()
    )
    out = [{"kind": "list", "id": pk, "name": name, "size": sizes.get(pk, 0)} for pk, name in lists]
    for i, segment in enumerate(Segment.objects.filter(talent=talent).order_by("-is_builtin", "name")):
        size = reachable(segment_queryset(segment)).count() if i < AUDIENCE_SIZED_SEGMENTS else None
        out.append({"kind": "segment", "id": segment.pk, "name": segment.name, "size": size})
    cache.set(key, out, AUDIENCE_SIZES_SECONDS)
    return out
