"""Campaigns: one message composed by the team and sent to an audience; tracked links and clicks."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from accounts.models import Fan, Talent


class CampaignStateError(Exception):
    """An illegal transition (approve a draft, resume a cancelled campaign ...): a clear message."""


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"  # being composed
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"  # above the talent's size threshold
        SCHEDULED = "scheduled", "Scheduled"  # campaign_schedule(); the dispatcher starts it when due
        SENDING = "sending", "Sending"  # recipients materialised; batches being sent
        PAUSED = "paused", "Paused"  # by the team or by carrier filtering (30007); resume continues
        COMPLETED = "completed", "Completed"  # no recipient row is waiting or being sent any more
        CANCELLED = "cancelled", "Cancelled"  # by the team; unsent rows are cancelled
        MISSED = "missed", "Missed"  # its time passed while the system was down, beyond the grace period

    class ScheduleMode(models.TextChoices):
        NOW = "now", "Send now"
        AT = "at", "At a date and time in the talent's time zone"
        LOCAL_TIME = "local_time", "At a local time in each fan's own time zone"

    class LatePolicy(models.TextChoices):
        NEXT_ALLOWED = "next_allowed", "Send at the next allowed time"
        SKIP = "skip", "Skip those fans"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    body = models.TextField(
        help_text="Merge fields: {first_name}, {city}; tracked links: {link:https://example.com/tickets}."
    )
    media_url = models.URLField(blank=True, help_text="An image sent as MMS (or upload one below).")
    media_file = models.FileField(
        upload_to="campaign-media/%Y/%m/",
        blank=True,
        validators=[FileExtensionValidator(["jpg", "jpeg", "png", "gif"])],
        help_text="An image up to 5 MB, sent as MMS.",
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.DRAFT)
    include_lists = models.ManyToManyField("messaging.ContactList", blank=True, related_name="+")
    exclude_lists = models.ManyToManyField("messaging.ContactList", blank=True, related_name="+")
    include_segments = models.ManyToManyField("messaging.Segment", blank=True, related_name="+")
    exclude_segments = models.ManyToManyField("messaging.Segment", blank=True, related_name="+")

    schedule_mode = models.CharField(max_length=16, choices=ScheduleMode.choices, default=ScheduleMode.NOW)
    # AT: the instant (entered in the talent's zone). LOCAL_TIME: set by campaign_schedule to the
    # earliest zone's local time, which is when the dispatcher starts materialising.
    send_at = models.DateTimeField(null=True, blank=True)
    local_date = models.DateField(null=True, blank=True, help_text="Day of the per-fan local send time.")
    local_time = models.TimeField(null=True, blank=True, help_text="Wall-clock time in each fan's zone.")
    late_policy = models.CharField(
        max_length=16,
        choices=LatePolicy.choices,
        default=LatePolicy.NEXT_ALLOWED,
        help_text="Fans whose local time already passed when the campaign starts.",
    )
    ignore_quiet_hours = models.BooleanField(
        default=False,
        verbose_name="not marketing, send during quiet hours",
        help_text="Only for urgent service messages (a cancelled show tonight). Recorded in the audit log.",
    )
    relevance_hours = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Hours the carrier may keep trying (Twilio ValidityPeriod, at most 10 h).",
    )

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    estimated_recipients = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Set once by materialisation: rows created, and fans left out (opted out, erased, capped, skipped).
    recipients_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    suppressed_count = models.PositiveIntegerField(default=0, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_reason = models.CharField(max_length=200, blank=True, editable=False)
    # Last time a send batch ran: the dispatcher re-enqueues batches only for a campaign gone quiet.
    last_batch_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The report's figures as last computed (campaign_results_refresh): the list's results columns
    # and the home page read these instead of counting a million message rows per view.
    results = models.JSONField(default=dict, blank=True, editable=False)
    results_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The whole report, stored when the campaign's message rows were archived (issue 17 §5,
    # messaging/sending/archive.py): campaign_report answers from it once the rows are gone.
    archived_report = models.JSONField(null=True, blank=True, editable=False)
    duplicated_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "send_at"], name="campaign_due")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.schedule_mode == self.ScheduleMode.AT and not self.send_at:
            errors["send_at"] = "Pick the date and time to send at."
        if self.schedule_mode == self.ScheduleMode.LOCAL_TIME:
            if not self.local_time:
                errors["local_time"] = "Pick the local time each fan gets the message."
            if not self.local_date:
                errors["local_date"] = "Pick the day."
        if errors:
            raise ValidationError(errors)

    @property
    def media(self) -> str:
        """The URL sent as MediaUrl: the uploaded file (public URL) or the given URL."""
        if self.media_file:
            return f"{settings.PUBLIC_BASE_URL}/{settings.MEDIA_URL.strip('/')}/{self.media_file.name}"
        return self.media_url

    @property
    def validity_period(self) -> int:
        return min(36000, self.relevance_hours * 3600)

    @property
    def is_editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.AWAITING_APPROVAL)

    # --- single-row transitions: lock, check, save(update_fields) ---------------------------
    def transition(self, action: str, to: str, **fields) -> Campaign:
        """Apply `action` (a key of CAMPAIGN_TRANSITIONS), moving to `to`, under a row lock."""
        allowed_from, targets = CAMPAIGN_TRANSITIONS[action]
        if to not in targets:
            raise ValueError(f"{action} cannot lead to {to}")  # a programming error, not the team's
        with transaction.atomic():
            locked = Campaign.objects.select_for_update().get(pk=self.pk)
            if locked.status not in allowed_from:
                raise CampaignStateError(
                    f"Campaign {locked.name!r} is {locked.get_status_display().lower()}; "
                    f"it cannot become {Campaign.Status(to).label.lower()}."
                )
            locked.status = to
            for name, value in fields.items():
                setattr(locked, name, value)
            locked.save(update_fields=["status", "updated_at", *fields])
        for name in ["status", "updated_at", *fields]:
            setattr(self, name, getattr(locked, name))
        return self


_CS = Campaign.Status
# Every legal move of a campaign, declared once: action -> (statuses it starts from, statuses it may
# end in). Services call Campaign.transition(action, to); the send engine's conditional UPDATEs
# read their WHERE status from here too.
CAMPAIGN_TRANSITIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "schedule": (frozenset({_CS.DRAFT}), frozenset({_CS.SCHEDULED, _CS.AWAITING_APPROVAL})),
    "approve": (frozenset({_CS.AWAITING_APPROVAL}), frozenset({_CS.SCHEDULED})),
    "start": (frozenset({_CS.SCHEDULED}), frozenset({_CS.SENDING, _CS.MISSED})),
    "pause": (frozenset({_CS.SCHEDULED, _CS.SENDING}), frozenset({_CS.PAUSED})),
    "pause_for_filtering": (frozenset({_CS.SENDING}), frozenset({_CS.PAUSED})),
    "resume": (frozenset({_CS.PAUSED}), frozenset({_CS.SCHEDULED, _CS.SENDING})),
    "complete": (frozenset({_CS.SENDING}), frozenset({_CS.COMPLETED})),
    "cancel": (
        frozenset({_CS.DRAFT, _CS.AWAITING_APPROVAL, _CS.SCHEDULED, _CS.SENDING, _CS.PAUSED}),
        frozenset({_CS.CANCELLED}),
    ),
}


def transition_from(action: str) -> list[str]:
    """The statuses `action` starts from, for a conditional UPDATE's WHERE."""
    return sorted(CAMPAIGN_TRANSITIONS[action][0])


def _link_code() -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(6))


LINK_LIFETIME = dt.timedelta(days=90)


def _link_expiry() -> dt.datetime:
    return timezone.now() + LINK_LIFETIME


class TrackedLink(models.Model):
    """One {link:...} of a campaign. Each recipient gets its own code: link code + message id + tag."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="links")
    url = models.URLField(max_length=1000)
    code = models.CharField(max_length=6, unique=True, default=_link_code)
    expires_at = models.DateTimeField(default=_link_expiry)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "url"], name="trackedlink_campaign_url")]

    def __str__(self) -> str:
        return f"{self.code} -> {self.url}"


class Click(models.Model):
    """One visit of a recipient's tracked link (unique clicks = distinct messages)."""

    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="clicks")
    message = models.ForeignKey(
        "messaging.OutboundMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="clicks"
    )
    fan = models.ForeignKey(Fan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    clicked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["link", "message"], name="click_link_message")]

    def __str__(self) -> str:
        return f"click on {self.link_id} by message {self.message_id}"
