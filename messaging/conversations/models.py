"""Conversations: one per (talent, fan), the shared inbox's unit of work (issue 13).

The thread itself is not copied here: it is the fan's InboundMessage and OutboundMessage rows
(indexed by (fan, time) already) plus the private notes and events below, merged in time order.
A Conversation row holds only the state the inbox sorts, counts and filters on, so every folder
is one index range (see Meta.indexes) at 100,000 open conversations.

An *episode* is one stretch of "the fan is waiting for us": opened by a real reply when nobody
was waiting yet, closed by the first human reply (answered) or by "done" without a reply. The
reply figures (figures.py) are computed over episodes, never over raw texts, so STOP, HELP and
join texts (which open nothing) can never count as replies.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Fan, Talent


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"  # a real reply arrived (or a snooze ran out): the team's turn
        PENDING = "pending", "Waiting on the fan"  # the team answered; the fan's turn
        SNOOZED = "snoozed", "Snoozed"  # put aside until snoozed_until; a fan's text wakes it early
        DONE = "done", "Done"  # closed by a team member; the fan's next real reply reopens it

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="conversations", db_index=False)
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    # The fan is waiting since (the first unanswered real reply of the open episode); NULL = nobody waits.
    waiting_since = models.DateTimeField(null=True, blank=True)
    episode = models.ForeignKey("Episode", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The campaign the fan answered when the current episode opened ("replies to a campaign" folder).
    campaign = models.ForeignKey(
        "messaging.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    last_message_at = models.DateTimeField(default=timezone.now)  # the inbox's order (newest activity first)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_inbound_id = models.BigIntegerField(null=True, blank=True)
    # The team's latest reply: the "someone answered meanwhile" check compares it with what the page saw.
    last_reply_id = models.BigIntegerField(null=True, blank=True)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    has_media = models.BooleanField(default=False)
    # The out-of-hours acknowledgement went at this time: at most one per out-of-hours period.
    away_sent_at = models.DateTimeField(null=True, blank=True)
    # Blocked as spam: the fan's texts still land in the thread, but no longer reopen it.
    blocked = models.BooleanField(default=False)
    # Unread marks: a shared one for the team, and the assignee's own (cleared when they open it).
    unread_team = models.BooleanField(default=True)
    unread_assignee = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["talent", "fan"], name="conversation_talent_fan")]
        indexes = [
            # Folders: (talent, status) then newest first, with id as the keyset tie-breaker.
            models.Index(fields=["talent", "status", "-last_message_at", "-id"], name="conversation_folder"),
            models.Index(
                fields=["talent", "assignee", "status", "-last_message_at", "-id"], name="conversation_assignee"
            ),
            models.Index(
                fields=["talent", "campaign", "-last_message_at", "-id"],
                condition=models.Q(campaign__isnull=False),
                name="conversation_campaign",
            ),
            models.Index(
                fields=["talent", "waiting_since"],
                condition=models.Q(waiting_since__isnull=False),
                name="conversation_waiting",
            ),
            models.Index(
                fields=["talent", "status"], condition=models.Q(unread_team=True), name="conversation_unread_team"
            ),
            models.Index(
                fields=["assignee", "talent", "status"],
                condition=models.Q(unread_assignee=True),
                name="conversation_unread_mine",
            ),
            models.Index(fields=["snoozed_until"], condition=models.Q(status="snoozed"), name="conversation_snoozed"),
        ]

    def __str__(self) -> str:
        # The console's header trail ("Inbox > Fiona Novafan"): the fan's name, else their number.
        fan = self.fan
        return " ".join(p for p in (fan.first_name, fan.last_name) if p) or str(fan.phone or f"fan {fan.pk}")


class Episode(models.Model):
    """One wait for the team, for the reply figures. Holds no fan data: timings and who answered."""

    class Outcome(models.TextChoices):
        WAITING = "waiting", "Waiting"  # opened, nobody answered or closed it yet
        ANSWERED = "answered", "Answered"  # a team member replied
        DONE_WITHOUT_REPLY = "done", "Done without a reply"  # closed without an answer: never "answered"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+", db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.SET_NULL, null=True, related_name="episodes")
    campaign = models.ForeignKey(
        "messaging.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    opened_at = models.DateTimeField()
    replies = models.PositiveIntegerField(default=1)  # real replies from the fan in this episode
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.WAITING)
    closed_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )

    class Meta:
        indexes = [
            models.Index(fields=["talent", "opened_at"], name="episode_opened"),
            models.Index(
                fields=["campaign", "opened_at"], condition=models.Q(campaign__isnull=False), name="episode_campaign"
            ),
        ]

    def __str__(self) -> str:
        return f"episode {self.pk} ({self.outcome})"

    @property
    def wait_seconds(self) -> float | None:
        if self.outcome != self.Outcome.ANSWERED or self.closed_at is None:
            return None
        return (self.closed_at - self.opened_at).total_seconds()


class Note(models.Model):
    """A private note in the thread: never sent to the fan. Fan data (erased with the fan)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_thread")]

    def __str__(self) -> str:
        return f"note {self.pk}"


class ConversationEvent(models.Model):
    """Assignments and status changes, shown in the thread ("Ada assigned it to Max"). Fan data:
    who handled which fan when; erased with the fan."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Unassigned"
        OPENED = "opened", "Opened"
        DONE = "done", "Marked done"
        SNOOZED = "snoozed", "Snoozed"
        SPAM = "spam", "Blocked as spam"
        UNSCHEDULED = "unscheduled", "Cancelled"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="conversation_event_thread")]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"


class Presence(models.Model):
    """Who has a conversation open now: one row per (conversation, member), its time bumped by the
    page's heartbeat (polling, no websocket stack). Rows older than PRESENCE_SECONDS mean gone."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()
    typing = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="presence_conversation_user")]

    def __str__(self) -> str:
        return f"user {self.user_id} on conversation {self.conversation_id}"


class SavedReply(models.Model):
    """A talent's canned answer; {first_name} and other placeholders are filled per fan."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="saved_replies")
    title = models.CharField(max_length=80)
    body = models.TextField(max_length=1600)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]
        constraints = [models.UniqueConstraint(fields=["talent", "title"], name="saved_reply_title")]
        verbose_name_plural = "saved replies"

    def __str__(self) -> str:
        return self.title


class Poll(models.Model):
    """A campaign's question with numbered or keyword answers. A recipient's reply within the
    reply window that matches an answer is a vote (one per fan, the last one wins) and opens no
    conversation; any other reply goes to the inbox as usual."""

    campaign = models.OneToOneField("messaging.Campaign", on_delete=models.CASCADE, related_name="poll")
    question = models.CharField(max_length=300)
    # [{"key": "1", "label": "Paris", "keywords": ["paris"]}, ...]: a reply equal to the key or to a
    # keyword (any case, spaces and trailing punctuation ignored) is a vote for that answer.
    options = models.JSONField(default=list)
    window_hours = models.PositiveIntegerField(default=72, help_text="Replies this long after the campaign count.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.question


class Vote(models.Model):
    """One fan's current answer to a poll (updated in place when they vote again)."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="votes")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="+")
    option = models.CharField(max_length=40)
    message = models.ForeignKey("messaging.InboundMessage", on_delete=models.SET_NULL, null=True, related_name="+")
    voted_at = models.DateTimeField()
    changes = models.PositiveIntegerField(default=0)  # how often the fan changed their vote

    class Meta:
        constraints = [models.UniqueConstraint(fields=["poll", "fan"], name="vote_poll_fan")]
        indexes = [models.Index(fields=["poll", "option"], name="vote_tally")]

    def __str__(self) -> str:
        return f"{self.option} in poll {self.poll_id}"


class CampaignThemes(models.Model):
    """The last computed themes of one campaign's free-text replies (themes.py): the page reads this
    row, a task recomputes it when it is older than a minute and someone looks. Word counts and
    the ids of sample replies only: the sample texts are read live from the replies, so an erased
    fan's text (wiped by erasure) never shows from here."""

    campaign = models.OneToOneField("messaging.Campaign", on_delete=models.CASCADE, related_name="themes")
    # [{"word": "tickets", "replies": 812, "sample_ids": [InboundMessage ids, newest first]}, ...]
    words = models.JSONField(default=list)
    replies = models.PositiveIntegerField(default=0)  # the free-text replies counted
    computed_at = models.DateTimeField()
    seconds = models.FloatField(default=0)  # how long the computation took (shown as a figure)

    def __str__(self) -> str:
        return f"themes of campaign {self.campaign_id}"


class InboxSettings(models.Model):
    """A talent's inbox rules (issue 13 §2): round-robin assignment with a per-member cap, business
    hours, and the acknowledgement text sent outside them. One row per talent, made on first use
    (`inbox_settings_for`), so a talent without one works the inbox by hand with no away text."""

    talent = models.OneToOneField(Talent, on_delete=models.CASCADE, related_name="inbox_settings")
    auto_assign = models.BooleanField(
        "Assign new conversations automatically",
        default=False,
        help_text="Round-robin among the members who marked themselves available.",
    )
    member_cap = models.PositiveSmallIntegerField(
        "Open conversations per member",
        default=25,
        help_text="Round-robin skips a member who already has this many open conversations.",
    )
    # Business hours, in the talent's time zone (Talent.default_time_zone). Days are ISO weekday
    # numbers 1 (Monday) .. 7 (Sunday). Closing at or before the opening time is an overnight
    # shift (22:00-02:00): it belongs to the day it starts on and ends the next morning.
    business_days = models.CharField(max_length=20, default="1,2,3,4,5")
    opens_at = models.TimeField(default=dt.time(9, 0))
    closes_at = models.TimeField(default=dt.time(18, 0))
    away_enabled = models.BooleanField("Send an acknowledgement outside business hours", default=False)
    away_text = models.TextField(
        max_length=320,
        blank=True,
        default="Thanks for your text! The team is away right now and will answer when we are back.",
    )
    # Dates closed ("YYYY-MM-DD" in the talent's zone): no shift starts on them, so the whole day
    # is out of hours and fans who write get the acknowledgement like any night.
    holidays = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "inbox settings"
        verbose_name_plural = "inbox settings"

    def __str__(self) -> str:
        return f"inbox settings of {self.talent}"

    @property
    def days(self) -> set[int]:
        return {int(d) for d in self.business_days.split(",") if d.strip().isdigit() and 1 <= int(d) <= 7}

    @property
    def holiday_dates(self) -> set[dt.date]:
        found = set()
        for value in self.holidays or []:
            try:
                found.add(dt.date.fromisoformat(str(value)))
            except ValueError:
                continue  # the form only saves valid dates; a hand-edited row never breaks the inbox
        return found


class MemberInbox(models.Model):
    """One member's inbox state for one talent: the "available for new conversations" mark (it
    lapses after AVAILABLE_IDLE_MINUTES without activity), the round-robin turn, the digest choice."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    available = models.BooleanField(default=False)
    active_at = models.DateTimeField(null=True, blank=True)  # last console activity while available
    last_assigned_at = models.DateTimeField(null=True, blank=True)  # round-robin: the longest wait goes next
    email_digest = models.BooleanField(default=False)
    digest_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["talent", "user"], name="member_inbox_talent_user")]

    def __str__(self) -> str:
        return f"user {self.user_id} in talent {self.talent_id}"


def _media_path(instance: InboundMedia, filename: str) -> str:
    # Never guessable, never the fan's number or the provider's name: a random token per file,
    # under a talent folder so retention and backups can be reasoned about per talent.
    import secrets

    return f"inbox-media/{instance.talent_id}/{secrets.token_urlsafe(24)}{_media_suffix(instance.content_type)}"


MEDIA_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "audio/mpeg": ".mp3",
    "audio/amr": ".amr",
    "audio/ogg": ".ogg",
    "application/pdf": ".pdf",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
}


def _media_suffix(content_type: str) -> str:
    return MEDIA_TYPES.get(content_type, ".bin")


class InboundMedia(models.Model):
    """One attachment of an inbound MMS (NumMedia/MediaUrlN/MediaContentTypeN of the webhook's
    payload). Fetched by a task, stored under MEDIA_ROOT with a random name, served only to the
    talent's team through a permission-checked view. Fan data: deleted (file too) on erasure."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be fetched"
        STORED = "stored", "Stored"
        REFUSED = "refused", "Refused (type or size)"
        FAILED = "failed", "Could not be fetched"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+", db_index=False)
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("messaging.InboundMessage", on_delete=models.CASCADE, related_name="media")
    position = models.PositiveSmallIntegerField()  # N of MediaUrlN
    source_url = models.URLField(max_length=500)  # the provider's URL: fetched once, then emptied
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(upload_to=_media_path, max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "position"], name="inbound_media_position")]
        indexes = [
            models.Index(fields=["status", "id"], condition=models.Q(status="pending"), name="inbound_media_pending")
        ]

    def __str__(self) -> str:
        return f"media {self.position} of message {self.message_id}"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")
