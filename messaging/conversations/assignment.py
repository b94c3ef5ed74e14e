"""Who handles a conversation: manual assignment, and round-robin among available members (issue 13 §2).

- A member marks themselves available for new conversations of a talent (`member_set_available`).
  The mark lapses on its own: it counts only while the member was active in the inbox within
  AVAILABLE_IDLE_MINUTES (every inbox page, heartbeat and poll calls `member_seen`), so a member
  who went home without unticking it gets nothing new overnight.
- Round-robin (`round_robin_assign`, called by `services.on_real_reply` when a real reply opens an
  unassigned conversation and the talent turned it on): the available member who was given a
  conversation longest ago goes next, skipping anyone at the talent's cap of open conversations.
  The candidates' rows are locked (select_for_update) for the pick, so two texts arriving at once
  on PostgreSQL cannot both hand the last free slot to the same member.
- Every assignment, manual or automatic, goes through `record_assignment`: the thread's event and
  the outgoing webhook `conversation.assigned`, in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from accounts import outbox, permissions
from accounts.models import TeamMember
from messaging.conversations.models import Conversation, ConversationEvent, InboxSettings, MemberInbox

AVAILABLE_IDLE_MINUTES = 30
WEBHOOK_EVENT = "conversation.assigned"


class How:
    MANUAL = "manual"  # a member picked the assignee (or themselves)
    REPLY = "reply"  # whoever answers an unassigned conversation owns the follow-up
    ROUND_ROBIN = "round_robin"  # handed out on arrival among available members


def inbox_settings_for(talent_id: int) -> InboxSettings:
    found = InboxSettings.objects.filter(talent_id=talent_id).first()
    if found is not None:
        return found
    settings, _ = InboxSettings.objects.get_or_create(talent_id=talent_id)
    return settings


def _lapse_before(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(minutes=AVAILABLE_IDLE_MINUTES)


def member_state(*, talent_id: int, user, now: dt.datetime | None = None) -> dict:
    """For the inbox header: is the mark on, does it still count, since when was the member active."""
    now = now or timezone.now()
    row = MemberInbox.objects.filter(talent_id=talent_id, user_id=user.pk).first()
    if row is None:
        return {"available": False, "lapsed": False, "email_digest": False}
    lapsed = row.available and (row.active_at is None or row.active_at < _lapse_before(now))
    return {"available": row.available and not lapsed, "lapsed": lapsed, "email_digest": row.email_digest}


def member_set_available(*, talent_id: int, user, available: bool) -> MemberInbox:
    """Tick or untick "available for new conversations". Only a member who may reply can tick it."""
    if available and not permissions.can(user, "reply", talent_id):
        raise PermissionError("Only members who answer fans can take new conversations.")
    row, _ = MemberInbox.objects.update_or_create(
        talent_id=talent_id, user_id=user.pk, defaults={"available": available, "active_at": timezone.now()}
    )
    return row


def member_set_digest(*, talent_id: int, user, enabled: bool) -> MemberInbox:
    row, _ = MemberInbox.objects.update_or_create(
        talent_id=talent_id, user_id=user.pk, defaults={"email_digest": enabled}
    )
    return row


def member_seen(*, talent_ids, user, now: dt.datetime | None = None) -> None:
    """The member is working the inbox: keep their availability mark alive (one UPDATE, and only
    for marks that are on, so a page view writes nothing for members who never use round-robin)."""
    if not getattr(user, "is_authenticated", False):
        return
    now = now or timezone.now()
    rows = MemberInbox.objects.filter(user_id=user.pk, available=True)
    if talent_ids is not None:
        rows = rows.filter(talent_id__in=talent_ids)
    # Not on every request: once a minute is plenty for a 30-minute lapse.
    rows.filter(active_at__lt=now - dt.timedelta(minutes=1)).update(active_at=now)


def round_robin_assign(conversation: Conversation, *, now: dt.datetime | None = None):
    """Give a newly opened, unassigned conversation (its row locked by the caller) to the next
    available member under the cap. Returns the user, or None (off, nobody available, all full)."""
    if conversation.assignee_id is not None or conversation.blocked:
        return None
    settings = inbox_settings_for(conversation.talent_id)
    if not settings.auto_assign:
        return None
    now = now or timezone.now()
    may_reply = TeamMember.objects.filter(
        talent_id=conversation.talent_id, role__in=permissions.CAPABILITIES["reply"], user__is_active=True
    ).values("user_id")
    candidates = list(
        MemberInbox.objects.select_for_update()
        .filter(
            talent_id=conversation.talent_id,
            available=True,
            active_at__gte=_lapse_before(now),
            user_id__in=may_reply,
        )
        .order_by(F("last_assigned_at").asc(nulls_first=True), "user_id")
    )
    if not candidates:
        return None
    open_counts = dict(
        Conversation.objects.filter(
            talent_id=conversation.talent_id,
            status=Conversation.Status.OPEN,
            assignee_id__in=[c.user_id for c in candidates],
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    for candidate in candidates:
        if open_counts.get(candidate.user_id, 0) >= settings.member_cap:
            continue
        user = get_user_model().objects.get(pk=candidate.user_id)
        MemberInbox.objects.filter(pk=candidate.pk).update(last_assigned_at=now)
        conversation.assignee = user
        conversation.unread_assignee = True
        conversation.save(update_fields=["assignee", "unread_assignee", "updated_at"])
        record_assignment(conversation, assignee=user, actor=None, how=How.ROUND_ROBIN)
        return user
    return None


def record_assignment(conversation: Conversation, *, assignee, actor, how: str, detail: str = "") -> None:
    """The thread's "assigned" event and the outgoing webhook, in the caller's transaction (so an
    assignment that rolls back sends nothing). `assignee` None records an unassignment (no webhook)."""
    with transaction.atomic():
        ConversationEvent.objects.create(
            conversation=conversation,
            fan_id=conversation.fan_id,
            kind=ConversationEvent.Kind.ASSIGNED if assignee is not None else ConversationEvent.Kind.UNASSIGNED,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            assignee=assignee,
            detail=(detail or ("round-robin" if how == How.ROUND_ROBIN else ""))[:200],
        )
        if assignee is None:
            return
        # The catalogue's shape (accounts/outbox.py), plus who assigned and how.
        data = outbox.conversation_assigned_data(conversation, assignee, timezone.now())
        data["conversation"]["assigned_by"] = actor.pk if getattr(actor, "is_authenticated", False) else None
        data["conversation"]["how"] = how
        outbox.webhook_emit(
            talent_id=conversation.talent_id,
            type=WEBHOOK_EVENT,
            data=data,
            fan_id=conversation.fan_id,
        )
