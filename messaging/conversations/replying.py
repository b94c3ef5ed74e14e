"""Replying to a fan: who may be answered, saved replies' placeholders, the reply itself (now or
"send later") and cancelling a scheduled one. `services.py` re-exports every name here (its old
import path)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Fan
from messaging.campaigns import scheduling
from messaging.conversations.assignment import How, record_assignment
from messaging.conversations.handling import (
    AnsweredMeanwhile,
    ConversationError,
    Kind,
    Outcome,
    Status,
    _close_episode,
    _event,
    _lock,
)
from messaging.conversations.models import Conversation, Episode
from messaging.conversations.priority import priority_message_queue
from messaging.sms.models import InboundMessage, OutboundMessage

PENDING_FAN_ANSWER_HOURS = 24  # a fan who has not finished joining may be answered this long after their text
MAX_REPLY_CHARS = 1600
SEND_LATER_MAX_DAYS = 30


# --- who may be answered ----------------------------------------------------------------------
def answer_refusal(*, fan: Fan, now: dt.datetime | None = None) -> str:
    """Why this fan may not be answered now ("" = they may)."""
    now = now or timezone.now()
    if fan.status == Fan.Status.ERASED or not fan.phone:
        return "This fan asked to be forgotten: their number is gone and nothing can be sent."
    if fan.status == Fan.Status.OPTED_OUT:
        return "This fan texted STOP: nothing may be sent until they text START again."
    if fan.status == Fan.Status.PENDING:
        last = (
            InboundMessage.objects.filter(fan=fan)
            .order_by("-received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        if last is None or now - last > dt.timedelta(hours=PENDING_FAN_ANSWER_HOURS):
            return (
                "This fan has not finished joining: they can be answered only within "
                f"{PENDING_FAN_ANSWER_HOURS} hours of their own text."
            )
    return ""


# --- saved replies and placeholders ------------------------------------------------------------
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def placeholder_values(fan: Fan) -> dict[str, str]:
    return {
        "first_name": fan.first_name,
        "last_name": fan.last_name,
        "city": fan.city,
        "talent": fan.talent.display_name,
        "program": fan.talent.program_name,
    }


@dataclass
class Filled:
    text: str
    missing: list[str]  # placeholders left in the text: the member must write them in


def fill_placeholders(body: str, *, fan: Fan) -> Filled:
    """Fill {first_name} and the like from the fan's profile; those without a value stay as they
    are and are listed, so the reply cannot leave with a hole ("Hi {first_name}" or "Hi ,")."""
    values = placeholder_values(fan)
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        value = values.get(match.group(1), "")
        if not value:
            missing.append(match.group(1))
            return match.group(0)
        return value

    return Filled(text=PLACEHOLDER.sub(replace, body), missing=missing)


def conversation_reply(
    *,
    conversation: Conversation,
    user,
    body: str,
    seen_reply_id: int | None,
    send_anyway: bool = False,
    then: str = Status.PENDING,
    send_at: dt.datetime | None = None,
) -> OutboundMessage:
    """Send a reply on the priority lane. Refuses (ConversationError) an empty or too long text,
    a placeholder left unfilled, a fan who may not be answered; raises AnsweredMeanwhile when
    another reply left since the page was loaded, unless the member confirmed (send_anyway).

    `send_at` ("send later"): the same row on the same lane, held by `not_before` (the lane's claim
    and its sweeper skip it until then), moved out of the fan's quiet hours. It counts as the
    answer from the time it is due to leave (the episode closes then, so the figures show the wait
    the fan had); cancelling it before then reopens the wait (`conversation_cancel_scheduled`)."""
    text = (body or "").strip()
    if not text:
        raise ConversationError("Write a reply first.")
    if len(text) > MAX_REPLY_CHARS:
        raise ConversationError(f"A reply can be at most {MAX_REPLY_CHARS} characters (this one has {len(text)}).")
    left = sorted(set(PLACEHOLDER.findall(text)))
    if left:
        raise ConversationError(
            "Fill in " + ", ".join("{" + p + "}" for p in left) + " before sending: this fan's profile has no value."
        )
    if then not in (Status.PENDING, Status.DONE):
        raise ConversationError("After a reply the conversation waits on the fan or is done.")
    now = timezone.now()
    if send_at is not None:
        if send_at <= now + dt.timedelta(minutes=1):
            raise ConversationError("Pick a time at least a minute from now, or send it now.")
        if send_at > now + dt.timedelta(days=SEND_LATER_MAX_DAYS):
            raise ConversationError(f"A reply can be scheduled at most {SEND_LATER_MAX_DAYS} days ahead.")
    with transaction.atomic():
        locked = _lock(conversation)
        fan = Fan.objects.select_for_update().get(pk=locked.fan_id)  # a STOP arriving now waits or wins
        refusal = answer_refusal(fan=fan, now=now)
        if refusal:
            raise ConversationError(refusal)
        if locked.last_reply_id != seen_reply_id and not send_anyway:
            raise AnsweredMeanwhile(_meanwhile_text(locked))
        leaves_at = now if send_at is None else send_later_time(fan=fan, talent=locked.talent, at=send_at)
        message = priority_message_queue(
            talent=locked.talent,
            fan=fan,
            to=str(fan.phone),
            body=text,
            kind=OutboundMessage.Kind.REPLY,
            sent_by=user,
            not_before=leaves_at if send_at is not None else None,
        )
        _close_episode(locked, Outcome.ANSWERED, at=leaves_at, by=user)
        locked.last_reply_id = message.pk
        locked.last_reply_at = now
        locked.last_message_at = now
        locked.status = then
        locked.snoozed_until = None
        locked.unread_team = False
        if locked.assignee_id is None:
            locked.assignee = user  # who answers owns the follow-up
            record_assignment(locked, assignee=user, actor=user, how=How.REPLY, detail="by replying")
        if locked.assignee_id == user.pk:
            locked.unread_assignee = False
        locked.save()
        if then == Status.DONE:
            _event(locked, Kind.DONE, actor=user)
        # The old per-text inbox flags, kept true for pages and figures still reading them.
        InboundMessage.objects.filter(fan_id=fan.pk, needs_reply=True).update(needs_reply=False, answered_at=now)
    conversation.refresh_from_db()
    return message


def _meanwhile_text(conversation: Conversation) -> str:
    reply = (
        OutboundMessage.objects.filter(pk=conversation.last_reply_id).select_related("sent_by").first()
        if conversation.last_reply_id is not None
        else None
    )
    who = reply.sent_by.get_username() if reply is not None and reply.sent_by else "Someone"
    at = timezone.localtime(conversation.last_reply_at).strftime("%H:%M %Z") if conversation.last_reply_at else ""
    return f"{who} answered this fan at {at} while you were writing. Read it below, then send anyway or change yours."


def send_later_time(*, fan: Fan, talent, at: dt.datetime) -> dt.datetime:
    """A chosen time moved out of the fan's quiet hours (their zone, the talent's window): a reply
    scheduled for 23:00 in New York leaves at the window's end, never at night."""
    try:
        zone = scheduling.zone(fan.time_zone or talent.default_time_zone)
    except (LookupError, ValueError):
        zone = scheduling.zone("UTC")
    return scheduling.next_allowed(at, zone, talent.quiet_hours_start, talent.quiet_hours_end)


def scheduled_replies(conversation: Conversation, *, now: dt.datetime | None = None):
    """The conversation's replies still held for later (pending, never tried, due in the future)."""
    now = now or timezone.now()
    return OutboundMessage.objects.filter(
        fan_id=conversation.fan_id,
        talent_id=conversation.talent_id,
        kind=OutboundMessage.Kind.REPLY,
        status=OutboundMessage.Status.PENDING,
        attempts=0,
        not_before__gt=now,
    )


def conversation_cancel_scheduled(*, conversation: Conversation, user, message_id: int) -> OutboundMessage:
    """Cancel a "send later" reply before it leaves. The claim and this both lock the row, so it is
    either cancelled here or already claimed by the lane (then: "it has left"). If it was the
    conversation's latest reply, the fan is waiting again, from their text (the episode reopens)."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(conversation)
        message = scheduled_replies(locked, now=now).select_for_update().filter(pk=message_id).first()
        if message is None:
            raise ConversationError("That reply is no longer scheduled: it has left or was cancelled.")
        message.status = OutboundMessage.Status.CANCELLED
        message.error_message = "send later cancelled by the team"
        message.save(update_fields=["status", "error_message", "updated_at"])
        if locked.last_reply_id == message.pk and locked.episode_id is not None:
            episode = Episode.objects.filter(pk=locked.episode_id, outcome=Outcome.ANSWERED).first()
            if episode is not None and episode.closed_at is not None and episode.closed_at >= now:
                Episode.objects.filter(pk=episode.pk).update(outcome=Outcome.WAITING, closed_at=None, answered_by=None)
                locked.waiting_since = episode.opened_at
                locked.status, locked.snoozed_until = Status.OPEN, None
            previous = (
                OutboundMessage.objects.filter(
                    fan_id=locked.fan_id, kind=OutboundMessage.Kind.REPLY, sent_by__isnull=False
                )
                .exclude(status__in=[OutboundMessage.Status.CANCELLED, OutboundMessage.Status.SUPPRESSED])
                .exclude(pk=message.pk)
                .order_by("-created_at", "-id")
                .values_list("pk", "created_at")
                .first()
            )
            locked.last_reply_id, locked.last_reply_at = previous if previous else (None, None)
            locked.save()
        _event(locked, Kind.UNSCHEDULED, actor=user, detail="a scheduled reply")
    return message
