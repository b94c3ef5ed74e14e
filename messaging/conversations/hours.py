"""Business hours per talent and the out-of-hours acknowledgement (issue 13 §2).

Hours are read in the talent's time zone (`Talent.default_time_zone`): the team's working day,
not the fan's. A closing time before the opening time is an overnight shift (22:00-02:00, owned by
the day it starts on); holidays (dates) start no shift, so they are out of hours all day. Outside them, a real reply may get the talent's acknowledgement text, with these
rules (each has a test):

- once per conversation per out-of-hours period: the period is the stretch since business hours
  last closed, so a fan who texts five times overnight gets one text, and again the next night;
- only for real replies: `services.on_real_reply` is the only caller, and STOP/HELP/START, the data
  keyword, join texts, votes and strangers never reach it;
- never to a fan who is not active (opted out, held as a possible opt-out, erased), never to a
  conversation blocked as spam; the lane re-checks "active" at claim time too (priority.py);
- on the priority lane, as an automatic reply (`kind=reply` without a sender), so it is paced
  with the sender's other one-to-one texts.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import Fan, Talent
from messaging.campaigns.scheduling import local_instant
from messaging.conversations.models import Conversation, InboxSettings
from messaging.conversations.priority import priority_message_queue
from messaging.sms.models import InboundMessage, OutboundMessage

DAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
SCAN_DAYS = 40


@dataclass(frozen=True)
class HoursState:
    open: bool
    closed_since: dt.datetime | None  # when hours last closed (the out-of-hours period's start)
    opens_at: dt.datetime | None  # when they open next (None while open, or with no business day)
    zone: str


def talent_zone(talent: Talent) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(talent.default_time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def hours_state(settings: InboxSettings, *, talent: Talent, now: dt.datetime | None = None) -> HoursState:
    """Open now? Since when closed, and when open next. A talent with no business day set is
    always open (no hours configured means no away text, never a permanent one)."""
    now = now or timezone.now()
    zone = talent_zone(talent)
    days = settings.days
    if not days or settings.opens_at == settings.closes_at:
        return HoursState(True, None, None, str(zone))
    overnight = settings.closes_at < settings.opens_at  # 22:00-02:00 ends the next morning
    holidays = settings.holiday_dates
    today = now.astimezone(zone).date()
    closed_since = opens_next = None
    # Far enough back and ahead that a fortnight of holidays still finds the last and next shift.
    for offset in range(-SCAN_DAYS, SCAN_DAYS + 1):
        day = today + dt.timedelta(days=offset)
        if day.isoweekday() not in days or day in holidays:
            continue  # a shift belongs to the day it starts on; a holiday starts none
        start = local_instant(day, settings.opens_at, zone)
        end = local_instant(day + dt.timedelta(days=1 if overnight else 0), settings.closes_at, zone)
        if start <= now < end:
            return HoursState(True, None, None, str(zone))
        if end <= now:
            closed_since = end  # days ascend: the last one kept is the latest
        elif start > now and opens_next is None:
            opens_next = start
    return HoursState(False, closed_since, opens_next, str(zone))


def hours_text(settings: InboxSettings, *, talent: Talent, now: dt.datetime | None = None) -> str:
    """One line for the inbox header: "Open until 18:00 (America/New_York)" or "Closed: ..."."""
    state = hours_state(settings, talent=talent, now=now)
    days = settings.days
    if not days:
        return ""
    if state.open:
        return f"Business hours: open until {settings.closes_at:%H:%M} ({state.zone})."
    when = ""
    if state.opens_at is not None:
        local = state.opens_at.astimezone(talent_zone(talent))
        when = f" Opens {DAY_NAMES[local.isoweekday()]} {local:%H:%M} ({state.zone})."
    away = " Fans who write get the acknowledgement text." if settings.away_enabled else ""
    today = (now or timezone.now()).astimezone(talent_zone(talent)).date()
    holiday = " Closed today (a holiday)." if today in settings.holiday_dates else ""
    return f"Outside business hours.{holiday}{when}{away}"


def away_text_for(
    conversation: Conversation, message: InboundMessage, *, settings: InboxSettings, now: dt.datetime | None = None
) -> OutboundMessage | None:
    """Queue the acknowledgement for this real reply if the rules above allow (the conversation's
    row is locked by the caller, so two texts of one fan cannot both send it)."""
    if not settings.away_enabled or not settings.away_text.strip() or conversation.blocked:
        return None
    now = now or timezone.now()
    talent = message.talent  # loaded with the text by the rule processor (select_related)
    state = hours_state(settings, talent=talent, now=now)
    if state.open:
        return None
    fan = Fan.objects.filter(pk=message.fan_id).first() if message.fan_id is not None else None
    if fan is None or fan.status != Fan.Status.ACTIVE or not fan.phone:
        return None
    period_start = state.closed_since or dt.datetime.min.replace(tzinfo=dt.UTC)
    if conversation.away_sent_at is not None and conversation.away_sent_at >= period_start:
        return None  # this out-of-hours period already had its one acknowledgement
    sent = priority_message_queue(
        talent=talent, fan=fan, to=str(fan.phone), body=settings.away_text.strip(), kind=OutboundMessage.Kind.REPLY
    )
    conversation.away_sent_at = now
    conversation.save(update_fields=["away_sent_at", "updated_at"])
    return sent
