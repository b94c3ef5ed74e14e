"""Scheduled automations (issue 14 §2, §4): the welcome series and date-relative messages.

Every text these send goes through the campaign engine: a due step becomes a system Campaign
("occurrence campaign", one per step per scheduler run that found due fans) whose rows are
materialised by messaging.sending.materialise, so exactly once, the frequency cap, quiet hours,
pacing and the STOP re-check at claim are the engine's own. The rows here say who is enrolled,
what is due when, and which occurrence each fan already got; their unique constraints are the
"once per fan per step / per year / per date" rule (docs/ARCHITECTURE.md, issue 14).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from accounts.models import Fan, Talent
from messaging.campaigns.models import Campaign

MAX_STEPS = 5
MAX_DELAY_MINUTES = 7 * 24 * 60


class AutomationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"  # being written: nobody is enrolled, nothing goes out
    LIVE = "live", "Live"  # fans who join are enrolled; due texts go out
    PAUSED = "paused", "Paused"  # nothing goes out and nobody new is enrolled; resume continues
    CANCELLED = "cancelled", "Cancelled"  # stopped for everyone: enrolments and unsent texts cancelled


class HandedOver(models.Model):
    """An occurrence handed to the engine: whose, and in which occurrence campaign its row is."""

    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Automation(models.Model):
    """What every automation has: a name, a lifecycle (occurrences.TRANSITIONS), when it went live."""

    name = models.CharField(max_length=120)
    status = models.CharField(max_length=16, choices=AutomationStatus.choices, default=AutomationStatus.DRAFT)
    live_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class WelcomeSeries(Automation):
    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="welcome_series")
    include_imported = models.BooleanField(
        default=False,
        verbose_name="also for fans added by import",
        help_text="Off: only fans who join themselves (signup, keyword, the console's Add fan, the API). On: "
        "fans a CSV import adds (or completes) while the series is live get it too, from the import on.",
    )

    class Meta(Automation.Meta):
        verbose_name = "welcome series"
        verbose_name_plural = "welcome series"
        constraints = [
            # A fan who joins gets one welcome: at most one series per talent is live or paused.
            models.UniqueConstraint(
                fields=["talent"],
                condition=models.Q(status__in=["live", "paused"]),
                name="welcomeseries_one_running",
            )
        ]


class WelcomeStep(models.Model):
    series = models.ForeignKey(WelcomeSeries, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_STEPS)])
    delay_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text="After the previous text (the first: after joining). Whole days keep the fan's wall-clock time.",
    )
    body = models.TextField(help_text="Merge fields: {first_name}, {city}; tracked links: {link:https://...}.")
    not_marketing = models.BooleanField(
        default=False,
        verbose_name="not marketing, may arrive in quiet hours",
        help_text="Only for service texts (how to reach the team). Marketing waits for the fan's morning.",
    )
    only_source = models.CharField(
        max_length=16,
        choices=Fan.Source.choices,
        blank=True,
        verbose_name="only fans who joined by",
        help_text="Leave empty for every fan.",
    )
    only_keyword = models.CharField(
        max_length=40,
        blank=True,
        verbose_name="only fans who joined with the keyword",
        help_text="Any case; leave empty for every fan.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["series", "position"]
        constraints = [models.UniqueConstraint(fields=["series", "position"], name="welcomestep_position")]

    def __str__(self) -> str:
        return f"Step {self.position}"


class WelcomeEnrolment(models.Model):
    """One fan in one series: which step is next and when it is due."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Waiting for the next step"  # enrolled on join; the scheduler moves it on
        COMPLETED = "completed", "Got every step"  # no step left after the last one handed to the engine
        STOPPED = "stopped", "Stopped (fan no longer active)"  # opted out, erased or held: never resumes
        CANCELLED = "cancelled", "Cancelled"  # the series was cancelled for everyone

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+")
    series = models.ForeignKey(WelcomeSeries, on_delete=models.CASCADE, related_name="enrolments")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="welcome_enrolments")
    source = models.CharField(max_length=16, blank=True)  # Fan.source when the fan joined
    keyword = models.CharField(max_length=40, blank=True)  # the keyword the fan joined with (normalised)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    next_position = models.PositiveSmallIntegerField(default=1)
    # When the previous text was due to leave (joining, for the first step): delays count from here.
    anchor_at = models.DateTimeField()
    next_due_at = models.DateTimeField(null=True, blank=True)
    waiting_reason = models.CharField(max_length=32, blank=True)  # "frequency_cap" while the cap holds it
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "fan"], name="welcomeenrolment_once")]
        indexes = [
            models.Index(fields=["next_due_at"], condition=models.Q(status="active"), name="welcomeenrolment_due"),
        ]

    def __str__(self) -> str:
        return f"{self.fan_id} in {self.series_id}"


class WelcomeStepSend(HandedOver):
    """The occurrence key of a welcome step: one row per (enrolment, position), unique in the
    database, written in the transaction that materialises the fan's engine row."""

    enrolment = models.ForeignKey(WelcomeEnrolment, on_delete=models.CASCADE, related_name="sends")
    step = models.ForeignKey(WelcomeStep, on_delete=models.SET_NULL, null=True, related_name="sends")
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrolment", "position"], name="welcomestepsend_once")]

    def __str__(self) -> str:
        return f"step {self.position} to {self.fan_id}"


class DateMessage(Automation):
    class Kind(models.TextChoices):
        BIRTHDAY = "birthday", "On the fan's birthday"
        DAYS_AFTER_JOIN = "days_after_join", "A number of days after joining"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="date_messages")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3660)],
        help_text="For “days after joining”: 30 sends on the 30th day after the fan's join date.",
    )
    local_time = models.TimeField(help_text="The wall-clock time in each fan's own time zone.")
    body = models.TextField(help_text="Merge fields: {first_name}, {city}; tracked links: {link:https://...}.")

    class Meta(Automation.Meta):
        verbose_name = "date message"


class DateEnrolment(models.Model):
    """A fan who joined while a date message was live (fans who joined before are never back-filled)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Waiting for the date"  # the scheduler sends when next_due_at passes
        DONE = "done", "Done"  # a one-off date (days after joining) went out
        STOPPED = "stopped", "Stopped (fan no longer active)"
        CANCELLED = "cancelled", "Cancelled"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(DateMessage, on_delete=models.CASCADE, related_name="enrolments")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="date_enrolments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Birthdays: the signup form said the birth date is used for a birthday text when the fan joined.
    birthday_use_stated = models.BooleanField(default=False)
    next_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "fan"], name="dateenrolment_once")]
        indexes = [models.Index(fields=["next_due_at"], condition=models.Q(status="active"), name="dateenrolment_due")]

    def __str__(self) -> str:
        return f"{self.fan_id} for {self.message_id}"


class DateSend(HandedOver):
    """The occurrence key of a date message: "2027" (a birthday, once per year) or the date."""

    enrolment = models.ForeignKey(DateEnrolment, on_delete=models.CASCADE, related_name="sends")
    occurrence = models.CharField(max_length=10)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrolment", "occurrence"], name="datesend_once")]

    def __str__(self) -> str:
        return f"{self.occurrence} to {self.fan_id}"


class AutomationCampaign(models.Model):
    """Which step or date message an occurrence campaign belongs to (the per-step report sums them)."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="automation")
    step = models.ForeignKey(WelcomeStep, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns")
    series = models.ForeignKey(WelcomeSeries, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    date_message = models.ForeignKey(
        DateMessage, on_delete=models.CASCADE, null=True, blank=True, related_name="campaigns"
    )

    def __str__(self) -> str:
        return f"automation campaign {self.campaign_id}"


class UpcomingAutomation(WelcomeSeries):
    """No table: the console's "next 24 hours" page hangs off this proxy (a menu entry needs a model)."""

    class Meta:
        proxy = True
        verbose_name = "upcoming automated text"
        verbose_name_plural = "upcoming automated texts"
