"""The thread of a conversation: the fan's texts both ways, notes and events in time order, and
its plain-text transcript. `services.py` re-exports every name here (its old import path)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from messaging.conversations.handling import Kind
from messaging.conversations.media import media_for_messages
from messaging.conversations.models import Conversation, ConversationEvent, Note
from messaging.sms.models import InboundMessage, OutboundMessage


# --- the thread -------------------------------------------------------------------------------
@dataclass
class ThreadItem:
    at: dt.datetime
    kind: str  # "in", "out", "note", "event"
    body: str
    who: str = ""
    detail: str = ""  # the keyword action of an inbound text, the status of an outbound one
    obj: object = None
    scheduled_for: dt.datetime | None = None  # a "send later" reply still held: when it leaves
    media: list = field(default_factory=list)  # an inbound MMS's files (InboundMedia rows)


def thread(conversation: Conversation, *, limit: int = 200) -> list[ThreadItem]:
    """The latest `limit` items both ways plus notes and events, oldest first (each source read
    newest-first through its (fan|conversation, time) index, then merged)."""
    fan_id = conversation.fan_id
    now = timezone.now()
    items: list[ThreadItem] = []
    for m in InboundMessage.objects.filter(fan_id=fan_id).order_by("-received_at", "-id")[:limit]:
        detail = "" if m.action in ("inbox", "") else m.get_action_display()
        items.append(ThreadItem(m.received_at, "in", m.body, "Fan", detail, m))
    for o in (
        OutboundMessage.objects.filter(fan_id=fan_id)
        .select_related("sent_by", "campaign")
        .exclude(status=OutboundMessage.Status.SUPPRESSED)
        .order_by("-created_at", "-id")[:limit]
    ):
        who = (
            (o.sent_by.get_username() if o.sent_by else "Automatic reply")
            if o.kind == OutboundMessage.Kind.REPLY
            else (f"Campaign: {o.campaign.name}" if o.campaign else "Automatic")
        )
        item = ThreadItem(o.created_at, "out", o.body, who, o.get_status_display(), o)
        if o.status == OutboundMessage.Status.PENDING and o.attempts == 0 and o.not_before and o.not_before > now:
            item.scheduled_for = o.not_before
            item.detail = "Scheduled"
        items.append(item)
    for n in Note.objects.filter(conversation=conversation).select_related("author").order_by("-created_at")[:limit]:
        items.append(ThreadItem(n.created_at, "note", n.body, n.author.get_username() if n.author else "", "", n))
    for e in (
        ConversationEvent.objects.filter(conversation=conversation)
        .select_related("actor", "assignee")
        .order_by("-created_at")[:limit]
    ):
        items.append(ThreadItem(e.created_at, "event", _event_text(e), "", "", e))
    items.sort(key=lambda i: i.at)
    items = items[-limit:]
    media = media_for_messages([i.obj.pk for i in items if i.kind == "in" and isinstance(i.obj, InboundMessage)])
    for item in items:
        if item.kind == "in" and isinstance(item.obj, InboundMessage):
            item.media = media.get(item.obj.pk, [])
    return items


def _event_text(event: ConversationEvent) -> str:
    actor = event.actor.get_username() if event.actor else "The fan's text"
    if event.kind == Kind.ASSIGNED:
        target = event.assignee.get_username() if event.assignee else "?"
        return f"{actor} assigned it to {target}" + (f" ({event.detail})" if event.detail else "")
    if event.kind == Kind.OPENED:
        return "Reopened: " + (event.detail or f"by {actor}")
    text = f"{event.get_kind_display()} by {actor}"
    return text + (f" {event.detail}" if event.detail else "")


def transcript(conversation: Conversation) -> str:
    """The whole thread as plain text (UTC times), for the download."""
    lines = [f"Conversation with fan {conversation.fan_id} ({conversation.talent.display_name}), times in UTC", ""]
    labels = {"in": "Fan", "out": "To fan", "note": "Private note", "event": "Event"}
    for item in thread(conversation, limit=10_000):
        who = f" ({item.who})" if item.who else ""
        stamp = item.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        attached = f" [{len(item.media)} attachment(s)]" if item.media else ""
        lines.append(f"[{stamp}] {labels[item.kind]}{who}: {item.body}{attached}")
    return "\n".join(lines) + "\n"
