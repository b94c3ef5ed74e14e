"""Polls (issue 13, "listening at scale"): a campaign asks a question with numbered or keyword
answers; a recipient's real reply within the poll's window that matches an answer is a vote.

`vote_for(message)` runs inside `on_real_reply` before a conversation is opened: a vote is
recorded (one per fan and poll, the last one wins) and opens nothing; every other reply goes to
the inbox as usual. The tally is one GROUP BY over the (poll, option) index.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from messaging.audience.rules import normalise_answer
from messaging.conversations.models import Poll, Vote
from messaging.sms.models import InboundMessage, OutboundMessage

MAX_WINDOW = dt.timedelta(days=30)
# " 2! " -> "2", "Paris." -> "paris": case, spaces and punctuation around the answer ignored. One
# function with the segment rule "voted in poll" (audience, below), so a rule's answer matches a vote.
normalise = normalise_answer


def option_for(poll: Poll, body: str) -> str | None:
    said = normalise(body)
    if not said:
        return None
    for option in poll.options or []:
        key = normalise(str(option.get("key", "")))
        words = {normalise(str(k)) for k in option.get("keywords", [])} | {key}
        if said in words - {""}:
            return key
    return None


def poll_answered(*, fan_id: int, at: dt.datetime) -> Poll | None:
    """The poll of the latest campaign the fan got whose window is still open at `at`."""
    sent = (
        OutboundMessage.objects.filter(
            fan_id=fan_id, campaign__poll__isnull=False, created_at__lte=at, created_at__gte=at - MAX_WINDOW
        )
        .exclude(status__in=[OutboundMessage.Status.SUPPRESSED, OutboundMessage.Status.CANCELLED])
        .select_related("campaign__poll")
        .order_by("-created_at")
        .first()
    )
    if sent is None or sent.campaign is None:
        return None
    poll = sent.campaign.poll
    return poll if at - sent.created_at <= dt.timedelta(hours=poll.window_hours) else None


def vote_for(message: InboundMessage) -> Vote | None:
    """Record the text as a vote when it is one; None when it is an ordinary reply."""
    if message.fan_id is None:
        return None
    at = message.received_at or timezone.now()
    poll = poll_answered(fan_id=message.fan_id, at=at)
    if poll is None:
        return None
    option = option_for(poll, message.body)
    if option is None:
        return None
    with transaction.atomic():
        vote = Vote.objects.select_for_update().filter(poll=poll, fan_id=message.fan_id).first()
        if vote is None:
            try:
                with transaction.atomic():
                    return Vote.objects.create(
                        poll=poll, fan_id=message.fan_id, option=option, message=message, voted_at=at
                    )
            except IntegrityError:  # the fan's other text, processed at the same moment
                vote = Vote.objects.select_for_update().get(poll=poll, fan_id=message.fan_id)
        if at >= vote.voted_at:  # the last one wins, by the time the fan sent it
            Vote.objects.filter(pk=vote.pk).update(
                option=option,
                message=message,
                voted_at=at,
                changes=F("changes") + (1 if option != vote.option else 0),
            )
    return vote


def poll_tally(poll: Poll) -> list[dict]:
    """[{key, label, votes, share}] in the poll's own order, answers without votes included."""
    counts = dict(poll.votes.order_by().values("option").annotate(n=Count("id")).values_list("option", "n"))
    total = sum(counts.values())
    rows = []
    for option in poll.options or []:
        key = normalise(str(option.get("key", "")))
        votes = counts.get(key, 0)
        rows.append(
            {"key": key, "label": option.get("label", key), "votes": votes, "share": votes / total if total else None}
        )
    return rows
