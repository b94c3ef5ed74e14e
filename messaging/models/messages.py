"""Messages both ways: one OutboundMessage per text we send, one InboundMessage per text received."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Fan, Talent


class OutboundMessage(models.Model):
    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", "Campaign"
        REPLY = "reply", "Reply from the team"
        SYSTEM = "system", "Compliance / system"  # keyword replies, confirmations, links

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # created (materialised); not yet claimed
        CLAIMED = "claimed", "Claimed"  # a worker holds the lease and is about to send
        UNCERTAIN = "uncertain", "Uncertain"  # request left but no answer; reconciled, never resent blindly
        QUEUED = "queued", "Queued"  # provider accepted it (Twilio queued/accepted)
        SENT = "sent", "Sent"  # status callback: handed to the carrier
        DELIVERED = "delivered", "Delivered"  # status callback: final
        UNDELIVERED = "undelivered", "Undelivered"  # status callback: final
        FAILED = "failed", "Failed"  # provider refused or callback failed: final
        SUPPRESSED = "suppressed", "Suppressed"  # not sent: opted out, cap, quiet-hours skip ...
        CANCELLED = "cancelled", "Cancelled"  # campaign cancelled before this row was sent

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="outbound_messages")
    fan = models.ForeignKey(Fan, on_delete=models.SET_NULL, null=True, blank=True, related_name="outbound_messages")
    campaign = models.ForeignKey(
        "messaging.Campaign", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CAMPAIGN)
    to_number = models.CharField(max_length=20)
    body = models.TextField(blank=True)
    media_url = models.URLField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    provider_sid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The team member who wrote a reply.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Nothing sent twice: one row per (campaign, fan), created before anything is sent.
            models.UniqueConstraint(
                fields=["campaign", "fan"], condition=models.Q(campaign__isnull=False), name="outbound_campaign_fan"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="outbound_campaign_status"),
            models.Index(fields=["fan", "-created_at"], name="outbound_fan_recent"),
            models.Index(fields=["status", "lease_until"], name="outbound_lease"),
        ]

    def __str__(self) -> str:
        return f"to {self.to_number}: {self.body[:40]}"


class InboundMessage(models.Model):
    """A text a fan (or anyone) sent to a talent's number, stored raw before it is processed."""

    class Action(models.TextChoices):
        # What the keyword rules (consent/keywords.py) decided; set when processed.
        NONE = "", "Not processed"
        OPT_OUT = "opt_out", "Opt-out keyword"
        OPT_IN = "opt_in", "Opt-in keyword"
        HELP = "help", "Help keyword"
        MY_DATA = "my_data", "Data-page keyword"
        JOIN_LINK = "join_link", "Sent a signup link"
        JOIN_LINK_SKIPPED = "join_link_skipped", "Signup link already sent recently"
        INBOX = "inbox", "For the team's inbox"
        IGNORED = "ignored", "No reply (opted out or erased sender)"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="inbound_messages")
    fan = models.ForeignKey(Fan, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_messages")
    message_sid = models.CharField(max_length=64, unique=True)  # Twilio retries: idempotent on it
    from_number = models.CharField(max_length=20)
    to_number = models.CharField(max_length=20)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=24, choices=Action.choices, blank=True, default="", db_default="")
    # The inbox: a reply that is not a keyword waits here until a team member answers or archives it.
    needs_reply = models.BooleanField(default=False)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["talent", "needs_reply", "-received_at"], name="inbound_inbox"),
            models.Index(fields=["fan", "-received_at"], name="inbound_fan_recent"),
        ]

    def __str__(self) -> str:
        return f"from {self.from_number}: {self.body[:40]}"
