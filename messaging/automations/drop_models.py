"""Drops (issue 14 §3): a release, a presale or a show that fans join by keyword or its sms: link.

The release message is a Campaign the drop owns, whose audience is the drop's own list of
entrants: it goes through the campaign sending engine (one row per recipient, unique in the
database on (campaign, fan); quiet hours, frequency cap, pacing and the STOP re-check at claim).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Fan, Talent


class Drop(models.Model):
    class Zone(models.TextChoices):
        TALENT = "talent", "At that time in the talent's time zone"
        FAN = "fan", "At that local time in each fan's time zone"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="drops")
    name = models.CharField(max_length=120)
    confirmation = models.TextField(
        help_text="Sent at once when a fan joins. {code} puts the fan's code in it (when codes are uploaded)."
    )
    release_text = models.TextField(help_text="The one release message, sent at the release time to every entrant.")
    release_at = models.DateTimeField(help_text="Date and time of the release (entered in the talent's time zone).")
    release_zone = models.CharField(max_length=8, choices=Zone.choices, default=Zone.TALENT)
    made_it = models.TextField(
        help_text='Sent at once to fans who join after the release went out ("You made it: ..."). {code} works here too.'
    )
    capacity = models.PositiveIntegerField(null=True, blank=True, help_text="Only the first N fans; empty: no limit.")
    waitlist = models.BooleanField(default=False, help_text="Past the capacity, fans join a waitlist.")
    full_text = models.TextField(blank=True, help_text="Sent past the capacity (to the waitlist, when there is one).")
    fallback_text = models.TextField(
        blank=True, help_text="Sent instead of the confirmation when the codes have run out."
    )
    is_paused = models.BooleanField(default=False, help_text="A paused drop takes no one and sends nothing.")
    # The entrants (the release campaign's audience) and the release campaign itself.
    entrants_list = models.OneToOneField(
        "messaging.ContactList", on_delete=models.PROTECT, related_name="drop", editable=False
    )
    campaign = models.OneToOneField(
        "messaging.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="drop", editable=False
    )
    entrants_count = models.PositiveIntegerField(default=0, editable=False)
    waitlist_count = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-release_at"]

    def __str__(self) -> str:
        return self.name


class DropEntry(models.Model):
    """A fan in a drop: one row per (drop, fan), so joining twice is one entry."""

    class Status(models.TextChoices):
        ENTERED = "entered", "Entered"
        WAITLISTED = "waitlisted", "On the waitlist"
        FULL = "full", "Turned away (full)"

    drop = models.ForeignKey(Drop, on_delete=models.CASCADE, related_name="entries")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="drop_entries")
    status = models.CharField(max_length=12, choices=Status.choices)
    created_at = models.DateTimeField(default=timezone.now)
    # Set (conditionally, once) when the "you made it" text was queued for a late joiner.
    made_it_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["drop", "fan"], name="drop_entry_unique")]

    def __str__(self) -> str:
        return f"fan {self.fan_id} in drop {self.drop_id}: {self.status}"


class DropCode(models.Model):
    """One code of a drop's uploaded CSV. Bound to a (drop, fan) pair by the database: a code has
    one fan (the row), and a fan has at most one code per drop (the partial unique constraint), so
    two fans racing never share one and a resend reuses the fan's code instead of taking a second."""

    drop = models.ForeignKey(Drop, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=64)
    # CASCADE, not SET_NULL: a code once given out is used up; freeing it would hand it to a second fan.
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, null=True, blank=True, related_name="drop_codes")
    assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["drop", "code"], name="drop_code_unique"),
            models.UniqueConstraint(
                fields=["drop", "fan"], condition=Q(fan__isnull=False), name="drop_code_one_per_fan"
            ),
        ]
        # The next free code: WHERE drop = ? AND fan IS NULL ORDER BY id (partial, shrinks as codes go).
        indexes = [models.Index(fields=["drop", "id"], condition=Q(fan__isnull=True), name="drop_code_free")]

    def __str__(self) -> str:
        return self.code
