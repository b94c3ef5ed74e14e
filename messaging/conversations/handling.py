"""The team's side of a conversation: the pieces every workflow shares (the row lock, the thread's
events, closing the wait) and the actions besides replying: note, assign, done, snooze, reopen,
block as spam, seen, the snooze wake, presence. Keyword-only, typed; each in one transaction with
the row locked, so two members acting at once serialise instead of overwriting each other.
`services.py` re-exports every name here (its old import path)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from accounts import permissions
from messaging.conversations.assignment import How, record_assignment
from messaging.conversations.models import Conversation, ConversationEvent, Episode, Note, Presence
from messaging.sms.models import InboundMessage

Status = Conversation.Status
Outcome = Episode.Outcome
Kind = ConversationEvent.Kind
PRESENCE_SECONDS = 45  # a heartbeat every 15 s; three missed beats and the member is gone


class ConversationError(Exception):
    """A refusal the console shows as it is (a form error or a 4xx JSON message)."""


class AnsweredMeanwhile(ConversationError):
    """Someone else replied after the page was loaded: the member must confirm."""


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
