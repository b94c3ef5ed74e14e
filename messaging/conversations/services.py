"""Conversation workflows: a real reply opens (or reopens) one; the team answers, notes, assigns,
snoozes and closes it. Keyword-only, typed; views and the inbound rules call these.

Who calls what:
- the inbound rules (inbound.py) call `on_real_reply` for every text they judge a real reply (an
  active fan's text that is no keyword). STOP/HELP/START, the data keyword, join texts and
  strangers never reach it, so they show in the thread (it is the fan's messages) but open nothing.
- the inbox pages call the `conversation_*` functions, each in one transaction with the row locked,
  so two members acting at once serialise instead of overwriting each other.

By area (issue 9, module size): the inbound side is here; the team's actions and presence in
`handling.py`, replying in `replying.py`, the thread in `thread.py`. Every name stays importable
from this module (callers, the API and stored paths use `messaging.conversations.services`).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from messaging.conversations import assignment, hours
from messaging.conversations.handling import (  # noqa: F401  (re-exported: the old import path)
    PRESENCE_SECONDS,
    AnsweredMeanwhile,
    ConversationError,
    Kind,
    Outcome,
    Status,
    _close_episode,
    _event,
    _lock,
    conversation_assign,
    conversation_block_spam,
    conversation_done,
    conversation_note,
    conversation_reopen,
    conversation_seen,
    conversation_snooze,
    presence_beat,
    presence_leave,
    wake_snoozed,
)
from messaging.conversations.media import media_record
from messaging.conversations.models import Conversation, Episode
from messaging.conversations.polls import vote_for
from messaging.conversations.replying import (  # noqa: F401  (re-exported: the old import path)
    MAX_REPLY_CHARS,
    PENDING_FAN_ANSWER_HOURS,
    PLACEHOLDER,
    SEND_LATER_MAX_DAYS,
    Filled,
    answer_refusal,
    conversation_cancel_scheduled,
    conversation_reply,
    fill_placeholders,
    placeholder_values,
    scheduled_replies,
    send_later_time,
)
from messaging.conversations.thread import ThreadItem, thread, transcript  # noqa: F401  (re-exported)
from messaging.sms.models import InboundMessage, OutboundMessage


# --- the inbound side -------------------------------------------------------------------------
def on_real_reply(message: InboundMessage) -> Conversation | None:
    """A real reply from an active fan: open or reopen their conversation (in the caller's
    transaction, right after the rules judged the text). Returns the conversation, or None when
    the text has no fan (never, for a real reply; kept defensive)."""
    if message.fan_id is None:
        return None
    if vote_for(message) is not None:
        return None  # a vote in a campaign's poll: counted in the tally, opens nothing
    at = message.received_at or timezone.now()
    with transaction.atomic():
        conversation, created = _locked_conversation(talent_id=message.talent_id, fan_id=message.fan_id, at=at)
        _take_reply(conversation, message, at, created=created)
        if not conversation.blocked:
            _after_real_reply(conversation, message)
    return conversation


def _after_real_reply(conversation: Conversation, message: InboundMessage) -> None:
    """What a real reply sets going, in its transaction: round-robin for an open conversation
    nobody holds, the out-of-hours acknowledgement, the fetch of its media (after commit)."""
    settings_row = assignment.inbox_settings_for(conversation.talent_id)
    if conversation.status == Status.OPEN and conversation.assignee_id is None:
        assignment.round_robin_assign(conversation)
    hours.away_text_for(conversation, message, settings=settings_row)
    if _num_media(message.payload) > 0:
        media_record(message)


def on_real_replies(messages: list[InboundMessage]) -> None:
    """The bulk door of the rule processor: its real replies, in arrival order."""
    for message in sorted(messages, key=lambda m: m.pk or 0):
        on_real_reply(message)


def _locked_conversation(*, talent_id: int, fan_id: int, at: dt.datetime) -> tuple[Conversation, bool]:
    found = Conversation.objects.select_for_update().filter(talent_id=talent_id, fan_id=fan_id).first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():  # a savepoint: a concurrent first text may create it first
            Conversation.objects.create(
                talent_id=talent_id, fan_id=fan_id, status=Status.DONE, last_message_at=at, unread_team=False
            )
    except IntegrityError:
        pass
    return Conversation.objects.select_for_update().get(talent_id=talent_id, fan_id=fan_id), True


def _take_reply(conversation: Conversation, message: InboundMessage, at: dt.datetime, *, created: bool) -> None:
    conversation.last_message_at = max(conversation.last_message_at, at)
    conversation.last_inbound_at = at
    conversation.last_inbound_id = message.pk
    if _num_media(message.payload) > 0:
        conversation.has_media = True
    if conversation.blocked:
        # Blocked as spam: kept in the thread, opens nothing, counts nowhere.
        conversation.save()
        return
    conversation.unread_team = True
    conversation.unread_assignee = conversation.assignee_id is not None
    if conversation.waiting_since is not None and conversation.episode_id is not None:
        # Already waiting for us: one more text of the same episode.
        Episode.objects.filter(pk=conversation.episode_id).update(replies=F("replies") + 1)
        if conversation.status == Status.SNOOZED:
            conversation.status, conversation.snoozed_until = Status.OPEN, None
        conversation.save()
        return
    campaign_id = _campaign_answered(fan_id=conversation.fan_id, at=at)
    episode = Episode.objects.create(
        talent_id=conversation.talent_id, conversation=conversation, campaign_id=campaign_id, opened_at=at
    )
    reopened = not created and conversation.status != Status.OPEN
    conversation.status = Status.OPEN
    conversation.snoozed_until = None
    conversation.waiting_since = at
    conversation.episode = episode
    conversation.campaign_id = campaign_id
    conversation.save()
    if reopened:
        _event(conversation, Kind.OPENED, actor=None, detail="The fan wrote")


def _num_media(payload) -> int:
    try:
        return int((payload or {}).get("NumMedia") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


def _campaign_answered(*, fan_id: int, at: dt.datetime) -> int | None:
    """The campaign this reply answers: the latest campaign text the fan got within the
    attribution window (the same window the campaign report counts replies in)."""
    window = dt.timedelta(hours=settings.CAMPAIGN_ATTRIBUTION_HOURS)
    return (
        OutboundMessage.objects.filter(
            fan_id=fan_id, campaign__isnull=False, created_at__lte=at, created_at__gte=at - window
        )
        .exclude(status__in=[OutboundMessage.Status.SUPPRESSED, OutboundMessage.Status.CANCELLED])
        .order_by("-created_at")
        .values_list("campaign_id", flat=True)
        .first()
    )
