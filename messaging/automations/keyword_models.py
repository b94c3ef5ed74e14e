"""Keyword automations (issue 14 §1): a talent's own words, what each does, and who used it.

The order against the platform's words (STOP, START, HELP, the data keyword) is decided once, in
consent/keywords.py: a keyword is only ever asked about after rules 1-5, and one that a platform
rule would take is refused when it is saved (`consent.keywords.is_reserved`).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Fan, Talent


class Keyword(models.Model):
    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="automation_keywords")
    # Stored normalised (consent.keywords.normalise: lower case, single spaces); shown upper case.
    word = models.CharField(max_length=40, help_text="What fans text, e.g. TOUR. Any case and spacing matches.")
    aliases = models.CharField(
        max_length=300, blank=True, help_text="Other words that do the same, separated by commas (e.g. TOURS, GIRA)."
    )
    add_to_list = models.ForeignKey(
        "messaging.ContactList",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Fans who text the keyword are added to this list.",
    )
    tags = models.ManyToManyField(
        "messaging.Tag", blank=True, related_name="+", help_text="Tags put on fans who text it."
    )
    drop = models.ForeignKey(
        "messaging.Drop",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="keywords",
        help_text="Texting the keyword joins this drop (its confirmation is the reply).",
    )
    reply = models.TextField(
        blank=True,
        help_text="Sent at once, at most once a day per fan. No marketing here: it answers the fan's own text.",
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Works from this time (empty: at once).")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Stops working at this time (empty: never).")
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Only the first N fans; empty means no limit."
    )
    full_reply = models.TextField(blank=True, help_text="Sent to fans past the capacity.")
    is_paused = models.BooleanField(default=False, help_text="A paused keyword does nothing; texts reach the inbox.")
    # Counters, moved by single UPDATEs (F expressions) so concurrent texts never lose one.
    uses_count = models.PositiveIntegerField(default=0, editable=False)
    joins_count = models.PositiveIntegerField(default=0, editable=False)
    entrants_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["word"]
        constraints = [models.UniqueConstraint(fields=["talent", "word"], name="keyword_talent_word_unique")]

    def __str__(self) -> str:
        return self.word.upper()

    def words(self) -> list[str]:
        """The word and its aliases, normalised."""
        from consent.keywords import normalise

        found = [normalise(self.word)] + [normalise(a) for a in self.aliases.split(",")]
        return [w for i, w in enumerate(found) if w and w not in found[:i]]

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            not self.is_paused
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )

    def state(self, now=None) -> str:
        """Where the keyword stands now: paused, not_started, ended, full or live (the console's
        "Now" column and the API's `state` both read it)."""
        now = now or timezone.now()
        if self.is_paused:
            return "paused"
        if self.starts_at and now < self.starts_at:
            return "not_started"
        if self.ends_at and now >= self.ends_at:
            return "ended"
        if self.capacity is not None and self.entrants_count >= self.capacity:
            return "full"
        return "live"


class KeywordEntrant(models.Model):
    """A fan counted against a keyword's capacity: one row per (keyword, fan), so a fan texting
    twice takes one place."""

    keyword = models.ForeignKey(Keyword, on_delete=models.CASCADE, related_name="entrants")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["keyword", "fan"], name="keyword_entrant_unique")]

    def __str__(self) -> str:
        return f"fan {self.fan_id} used keyword {self.keyword_id}"


class KeywordReply(models.Model):
    """The auto-reply's once-a-day rule, enforced by the database: one row per (keyword, fan, the
    fan's local date). The reply is queued only when this row is new."""

    keyword = models.ForeignKey(Keyword, on_delete=models.CASCADE, related_name="+")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["keyword", "fan", "local_date"], name="keyword_reply_once_a_day")
        ]

    def __str__(self) -> str:
        return f"keyword {self.keyword_id} replied to fan {self.fan_id} on {self.local_date}"


class FanKeyword(models.Model):
    """The keyword a number texted before it joined, kept on the fan: remembered so the keyword
    runs once the fan joins, then kept as "joined with" (fan data: export and erasure)."""

    fan = models.OneToOneField(Fan, on_delete=models.CASCADE, related_name="join_keyword")
    keyword = models.ForeignKey(Keyword, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    word = models.CharField(max_length=40)  # survives the keyword's deletion
    remembered_at = models.DateTimeField(default=timezone.now)
    joined_at = models.DateTimeField(null=True, blank=True)  # set when the fan joined and it ran

    def __str__(self) -> str:
        return self.word.upper()
