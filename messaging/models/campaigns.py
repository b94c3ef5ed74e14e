"""Campaigns: one message composed by the team and sent to an audience."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Talent


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"  # being composed
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"  # above the talent's size threshold
        SCHEDULED = "scheduled", "Scheduled"  # campaign_schedule(); the dispatcher starts it when due
        SENDING = "sending", "Sending"  # recipients materialised; batches being sent
        PAUSED = "paused", "Paused"  # by the team or by carrier filtering (30007); resume continues
        COMPLETED = "completed", "Completed"  # every recipient row reached a final state
        CANCELLED = "cancelled", "Cancelled"  # by the team; unsent rows are cancelled

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    body = models.TextField()
    media_url = models.URLField(blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.DRAFT)
    include_lists = models.ManyToManyField("messaging.ContactList", blank=True, related_name="+")
    exclude_lists = models.ManyToManyField("messaging.ContactList", blank=True, related_name="+")
    include_segments = models.ManyToManyField("messaging.Segment", blank=True, related_name="+")
    exclude_segments = models.ManyToManyField("messaging.Segment", blank=True, related_name="+")
    send_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "send_at"], name="campaign_due")]

    def __str__(self) -> str:
        return self.name
