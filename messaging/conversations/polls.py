"""Polls (issue 13, "listening at scale"): a campaign asks a question with numbered or keyword
answers; a recipient's real reply within the poll's window that matches an answer is a vote.

`vote_for(message)` runs inside `on_real_reply` before a conversation is opened: a vote is
recorded (one per fan and poll, the last one wins) and opens nothing; every other reply goes to
the inbox as usual. The tally is one GROUP BY over the (poll, option) index.

The campaign page and its report show the tally and the themes through `POLL_SECTION`, registered
in campaigns' report sections from messaging/apps.py (campaigns sits below this layer).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messaging.audience.rules import normalise_answer
from messaging.campaigns.models import Campaign
from messaging.campaigns.reports import ReportSection
from messaging.conversations.models import Poll, Vote
from messaging.conversations.themes import themes_for_page
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


# --- the poll's figures on the campaign page and in its report (issue 13) -------------------------
POLL_THEMES_SHOWN = 12  # as many as the campaign's inbox folder shows


def poll_figures(campaign: Campaign) -> dict[str, Any] | None:
    """The poll's section of the campaign page and report (None: the campaign asks nothing). The
    tally is `poll_tally` and the themes `themes_for_page`, the very functions the poll page and the
    campaign's inbox folder read, so the figures agree everywhere. JSON-ready (the archive stores
    it with the report); no fan's text in it: themes are words and counts, never sample replies."""
    poll = Poll.objects.filter(campaign=campaign).first()
    if poll is None:
        return None
    tally = poll_tally(poll)
    view = themes_for_page(campaign, limit=POLL_THEMES_SHOWN)
    return {
        "poll_id": poll.pk,
        "question": poll.question,
        "total_votes": sum(row["votes"] for row in tally),
        "answers": [
            {"key": row["key"], "label": row["label"], "votes": row["votes"], "share": row["share"]} for row in tally
        ],
        "free_text_replies": view.replies,
        "themes": [{"word": theme.word, "replies": theme.replies} for theme in view.themes],
        "themes_counted_at": view.computed_at.isoformat() if view.computed_at else None,
        "themes_refreshing": view.refreshing,
    }


def poll_figures_display(data: dict[str, Any], tz: Any) -> dict[str, Any]:
    """What the template draws: each share as a whole percent (the bar's length and its words), the
    count's time in the talent's zone."""
    answers = []
    for answer in data.get("answers", []):
        share = answer.get("share")
        percent = round(share * 100) if share is not None else 0
        share_text = f"{percent}%" if share is not None else "-"
        said = f"{share_text} of the votes" if share is not None else "no votes yet"
        answers.append(
            {**answer, "percent": percent, "share_text": share_text, "bar_label": f"{answer['label']}: {said}"}
        )
    counted = parse_datetime(data["themes_counted_at"]) if data.get("themes_counted_at") else None
    counted_text = ""
    if counted is not None:
        local = timezone.localtime(counted, tz) if tz is not None else counted
        counted_text = f"{local:%b %-d, %H:%M} {local.tzname()}"
    return {**data, "answers": answers, "themes_counted_text": counted_text}


def poll_figures_csv(data: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [("poll_question", data["question"]), ("poll_total_votes", data["total_votes"])]
    for answer in data["answers"]:
        rows.append((f"poll_answer_{answer['key']}_votes", answer["votes"]))
        share = answer["share"]
        rows.append((f"poll_answer_{answer['key']}_share", round(share, 4) if share is not None else ""))
    rows.append(("poll_free_text_replies", data["free_text_replies"]))
    rows.extend((f"poll_theme_{theme['word']}", theme["replies"]) for theme in data["themes"])
    rows.append(("poll_themes_counted_at_utc", data["themes_counted_at"] or ""))
    return rows


def poll_figures_stored(data: dict[str, Any]) -> dict[str, Any]:
    """An archived campaign's stored figures: final, so nothing is "being counted"."""
    return {**data, "themes_refreshing": False}


POLL_SECTION = ReportSection(
    key="poll",
    template="admin/messaging/campaign/_poll_figures.html",
    build=poll_figures,
    csv_rows=poll_figures_csv,
    display=poll_figures_display,
    stored=poll_figures_stored,
)
