"""Conversation workflows: a real reply opens (or reopens) one; the team answers, notes, assigns,
snoozes and closes it. Keyword-only, typed; views and the inbound rules call these.

Who calls what:
- the inbound rules (inbound.py) call `on_real_reply` for every text they judge a real reply (an
  active fan's text that is no keyword). STOP/HELP/START, the data keyword, join texts and
  strangers never reach it, so they show in the thread (it is the fan's messages) but open nothing.
- the inbox pages call the `conversation_*` functions, each in one transaction with the row locked,
  so two members acting at once serialise instead of overwriting each other.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from accounts import permissions
from accounts.models import Fan
from messaging.campaigns import scheduling
from messaging.conversations import assignment, hours
from messaging.conversations.assignment import How, record_assignment
from messaging.conversations.media import media_for_messages, media_record
from messaging.conversations.models import Conversation, ConversationEvent, Episode, Note, Presence
from messaging.conversations.polls import vote_for
from messaging.conversations.priority import priority_message_queue
from messaging.sms.models import InboundMessage, OutboundMessage

Status = Conversation.Status
Outcome = Episode.Outcome
Kind = ConversationEvent.Kind
PRESENCE_SECONDS = 45  # a heartbeat every 15 s; three missed beats and the member is gone
PENDING_FAN_ANSWER_HOURS = 24  # a fan who has not finished joining may be answered this long after their text
MAX_REPLY_CHARS = 1600
SEND_LATER_MAX_DAYS = 30


class ConversationError(Exception):
    """A refusal the console shows as it is (a form error or a 4xx JSON message)."""


class AnsweredMeanwhile(ConversationError):
    """Someone else replied after the page was loaded: the member must confirm."""


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


# --- the team's side ----------------------------------------------------------------------------
def _lock(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().select_related("fan", "talent").get(pk=conversation.pk)


def _event(conversation: Conversation, kind: str, *, actor, assignee=None, detail: str = "") -> None:
    ConversationEvent.objects.create(
        conversation=conversation,
        fan_id=conversation.fan_id,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        assignee=assignee,
        detail=detail[:200],
    )


def _close_episode(conversation: Conversation, outcome: str, *, at: dt.datetime, by=None) -> None:
    if conversation.episode_id is not None and conversation.waiting_since is not None:
        Episode.objects.filter(pk=conversation.episode_id, outcome=Outcome.WAITING).update(
            outcome=outcome, closed_at=at, answered_by=by if outcome == Outcome.ANSWERED else None
        )
    conversation.waiting_since = None


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


def conversation_note(*, conversation: Conversation, user, body: str) -> Note:
    text = (body or "").strip()
    if not text:
        raise ConversationError("Write the note first.")
    if len(text) > 4000:
        raise ConversationError("A note can be at most 4,000 characters.")
    with transaction.atomic():
        locked = _lock(conversation)
        note = Note.objects.create(conversation=locked, fan_id=locked.fan_id, author=user, body=text)
    return note


def conversation_assign(*, conversation: Conversation, user, assignee) -> None:
    """Assign to a member who may reply for this talent (None = unassign)."""
    if assignee is not None and not permissions.can(assignee, "reply", conversation.talent_id):
        raise ConversationError(f"{assignee.get_username()} may not answer fans of this talent.")
    with transaction.atomic():
        locked = _lock(conversation)
        if locked.assignee_id == (assignee.pk if assignee else None):
            return
        locked.assignee = assignee
        # Their own unread mark: new to them unless they assigned it to themselves (they are looking).
        locked.unread_assignee = assignee is not None and assignee.pk != user.pk and locked.waiting_since is not None
        locked.save(update_fields=["assignee", "unread_assignee", "updated_at"])
        record_assignment(locked, assignee=assignee, actor=user, how=How.MANUAL)


def conversation_done(*, conversation: Conversation, user) -> None:
    """Close it. A wait closed without an answer is recorded as such, never as answered."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(conversation)
        if locked.status == Status.DONE:
            return
        _close_episode(locked, Outcome.DONE_WITHOUT_REPLY, at=now)
        locked.status, locked.snoozed_until = Status.DONE, None
        locked.unread_team = locked.unread_assignee = False
        locked.save()
        _event(locked, Kind.DONE, actor=user)
        InboundMessage.objects.filter(fan_id=locked.fan_id, needs_reply=True).update(needs_reply=False)


def conversation_snooze(*, conversation: Conversation, user, until: dt.datetime) -> None:
    now = timezone.now()
    if until <= now:
        raise ConversationError("Snooze until a time in the future.")
    if until > now + dt.timedelta(days=90):
        raise ConversationError("Snooze for at most 90 days.")
    with transaction.atomic():
        locked = _lock(conversation)
        locked.status, locked.snoozed_until = Status.SNOOZED, until
        locked.save(update_fields=["status", "snoozed_until", "updated_at"])
        _event(locked, Kind.SNOOZED, actor=user, detail=f"until {until.isoformat(timespec='minutes')}")


def conversation_reopen(*, conversation: Conversation, user) -> None:
    with transaction.atomic():
        locked = _lock(conversation)
        if locked.status == Status.OPEN:
            return
        locked.status, locked.snoozed_until, locked.blocked = Status.OPEN, None, False
        locked.save(update_fields=["status", "snoozed_until", "blocked", "updated_at"])
        _event(locked, Kind.OPENED, actor=user)


def conversation_block_spam(*, conversation: Conversation, user) -> None:
    """Done, and the sender's next texts stay in the thread without reopening it."""
    conversation_done(conversation=conversation, user=user)
    with transaction.atomic():
        locked = _lock(conversation)
        locked.blocked = True
        locked.save(update_fields=["blocked", "updated_at"])
        _event(locked, Kind.SPAM, actor=user)


def conversation_seen(*, conversation: Conversation, user) -> None:
    """The member opened it: the team's mark goes, and the assignee's when it is theirs."""
    fields: dict = {}
    if conversation.unread_team:
        fields["unread_team"] = False
    if conversation.unread_assignee and conversation.assignee_id == user.pk:
        fields["unread_assignee"] = False
    if fields:
        Conversation.objects.filter(pk=conversation.pk).update(**fields)
        for name, value in fields.items():
            setattr(conversation, name, value)


def wake_snoozed(*, talent_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Snoozes that ran out become open again (one UPDATE over a small partial index). Called by
    the inbox page for its talent and every minute for all talents by the periodic task
    (messaging/tasks.py `wake_snoozed_conversations`), so a snooze ends without anyone looking.
    The assignee's mark comes back too: the conversation is theirs to pick up again."""
    now = now or timezone.now()
    due = Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=now)
    if talent_id is not None:
        due = due.filter(talent_id=talent_id)
    return due.update(
        status=Status.OPEN,
        snoozed_until=None,
        unread_team=True,
        unread_assignee=Case(When(assignee__isnull=False, then=Value(True)), default=Value(False)),
        updated_at=now,
    )


# --- presence -----------------------------------------------------------------------------------
def presence_beat(*, conversation: Conversation, user, typing: bool = False) -> list[dict]:
    """Record that `user` has the conversation open; return the others who do (within PRESENCE_SECONDS)."""
    now = timezone.now()
    Presence.objects.update_or_create(conversation=conversation, user=user, defaults={"seen_at": now, "typing": typing})
    since = now - dt.timedelta(seconds=PRESENCE_SECONDS)
    others = (
        Presence.objects.filter(conversation=conversation, seen_at__gte=since)
        .exclude(user=user)
        .select_related("user")
        .order_by("user__username")
    )
    return [{"name": p.user.get_full_name() or p.user.get_username(), "typing": p.typing} for p in others]


def presence_leave(*, conversation: Conversation, user) -> None:
    Presence.objects.filter(conversation=conversation, user=user).delete()


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
