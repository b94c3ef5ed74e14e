"""The send engine's own rows: each sender's shared time line, numbers that can never receive, the
talent's sender pool (issue 17), daily-cap counters and the fans' carriers."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from accounts.models import Fan, Talent


class SenderClock(models.Model):
    """Next free moment on a talent's sender time line, shared by every worker (see ratelimit.py)."""

    talent = models.OneToOneField(Talent, on_delete=models.CASCADE, related_name="+")
    next_free_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sender clock of talent {self.talent_id}"


class UndeliverableNumber(models.Model):
    """A number the provider said can never receive our texts (21211, 21614, 30005, 30006).

    Materialisation leaves these numbers out (counted as suppressed) so later campaigns do not pay
    for messages that cannot arrive. A fan who changes number gets a new phone and is unaffected.
    """

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=20)
    error_code = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["talent", "phone"], name="undeliverable_unique")]

    def __str__(self) -> str:
        return f"{self.phone} ({self.error_code})"


class SenderPool(models.Model):
    """A talent's sender settings beyond its numbers: whether to ask Twilio Lookup for carriers.

    Lookups cost money (Twilio bills each line type intelligence lookup), so they are opt-in."""

    talent = models.OneToOneField(Talent, on_delete=models.CASCADE, related_name="sender_pool")
    lookup_carriers = models.BooleanField(
        "Look up fans' carriers",
        default=False,
        help_text="Ask Twilio Lookup (line type intelligence) for each fan's carrier once, before their first "
        "campaign, so 10DLC senders are paced per carrier. Twilio bills each lookup. Fans whose carrier is "
        "unknown are sent at the slowest carrier's pace.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"senders of {self.talent}"


class Sender(models.Model):
    """One number or Messaging Service of a talent's pool, with the limits its type brings."""

    class Kind(models.TextChoices):
        LONG_CODE = "long_code", "Long code (unregistered)"
        TEN_DLC = "10dlc", "10DLC (registered brand)"
        TOLL_FREE = "toll_free", "Toll-free"
        SHORT_CODE = "short_code", "Short code"
        SOLE_PROPRIETOR = "sole_proprietor", "10DLC sole proprietor"

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="senders")
    kind = models.CharField("Type", max_length=16, choices=Kind.choices, default=Kind.LONG_CODE)
    phone_number = models.CharField(
        "Number", max_length=20, blank=True, help_text="E.164, e.g. +14155550100. Leave empty for a Messaging Service."
    )
    messaging_service_sid = models.CharField(
        "Messaging Service SID",
        max_length=34,
        blank=True,
        validators=[RegexValidator(r"^MG[0-9a-fA-F]{32}$", "A Messaging Service SID is MG followed by 32 hex digits.")],
    )
    trust_score = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="10DLC brand trust score from Twilio: 75-100 sends 75 a second per carrier, 50-74 sends 40, "
        "below 50 sends 4.",
    )
    brand = models.CharField(
        max_length=40, blank=True, help_text="10DLC brand id; numbers of one brand share T-Mobile's daily cap."
    )
    tmobile_daily_cap = models.PositiveIntegerField(
        "T-Mobile daily cap",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="SMS parts a day T-Mobile accepts from this brand (2,000 to 200,000); resets at midnight Pacific.",
    )
    rate_overrides = models.JSONField(
        "Rates per carrier",
        default=dict,
        blank=True,
        help_text='SMS parts a second, to override the type\'s limits, e.g. {"att": 75, "tmobile": 40, '
        '"verizon": 4} for 10DLC or {"all": 100}.',
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the pool.")
    # 10DLC registration as Twilio last reported it (registration.py, hourly and on request): a
    # sender with a problem is left out of the pool (senders.held_back) until Twilio approves it.
    # db_default: processes of the previous release insert senders without these columns (upgrade).
    brand_status = models.CharField("10DLC brand", max_length=24, blank=True, editable=False, default="", db_default="")
    campaign_status = models.CharField(
        "10DLC campaign", max_length=24, blank=True, editable=False, default="", db_default=""
    )
    registration_problem = models.CharField(max_length=300, blank=True, editable=False, default="", db_default="")
    registration_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Twilio error 30034 (carriers see this number as not registered for 10DLC), on a send or in a
    # status callback: when, and which of our messages said so (an id, not a key: the archive may
    # delete the row, the mark stays). Held back like a failed registration until the team clears
    # it (registration.py: a registration check does not, see there).
    unregistered_at = models.DateTimeField("30034 reported", null=True, blank=True, editable=False)
    unregistered_message_id = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(phone_number="", messaging_service_sid=""), name="sender_has_address"
            ),
            # A number or Messaging Service belongs to one talent (fans' replies must find it).
            models.UniqueConstraint(
                fields=["phone_number"],
                condition=~models.Q(phone_number=""),
                name="sender_number_unique",
                violation_error_message="This number is already a sender (of this or another talent).",
            ),
            models.UniqueConstraint(
                fields=["messaging_service_sid"],
                condition=~models.Q(messaging_service_sid=""),
                name="sender_service_unique",
                violation_error_message="This Messaging Service is already a sender (of this or another talent).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.phone_number or self.messaging_service_sid}"

    def clean(self) -> None:
        from messaging.sending.senders import validate_overrides

        if not self.phone_number and not self.messaging_service_sid:
            raise ValidationError("Give the sender a number or a Messaging Service SID.")
        if self.phone_number and not re.fullmatch(r"\+[1-9]\d{6,14}", self.phone_number):
            raise ValidationError({"phone_number": "Write the number in E.164, e.g. +14155550100."})
        if self.kind == self.Kind.TEN_DLC and self.trust_score is None and not self.rate_overrides:
            raise ValidationError(
                {"trust_score": "A 10DLC sender needs its brand's trust score (or rates per carrier)."}
            )
        validate_overrides(self.kind, self.rate_overrides)


class SenderLaneClock(models.Model):
    """Next free moment of one sender toward one carrier (10DLC is metered per carrier), shared by
    every worker like SenderClock. A single-lane sender of the talent's own number uses SenderClock."""

    sender = models.ForeignKey(Sender, on_delete=models.CASCADE, related_name="+")
    carrier = models.CharField(max_length=16)
    next_free_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sender", "carrier"], name="sender_lane_clock_unique")]

    def __str__(self) -> str:
        return f"clock of sender {self.sender_id} to {self.carrier}"


class SenderDailyCount(models.Model):
    """SMS parts booked under a daily cap (T-Mobile per 10DLC brand, a sole proprietor's 1,000) on
    one US/Pacific day."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+")
    cap_key = models.CharField(max_length=60)  # "tmobile:<brand or sender id>" | "sender:<id>"
    day = models.DateField()
    parts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["talent", "cap_key", "day"], name="sender_daily_unique")]

    def __str__(self) -> str:
        return f"{self.cap_key} on {self.day}: {self.parts}"


class FanCarrier(models.Model):
    """A fan's carrier as Twilio Lookup (line type intelligence) answered it, looked up once."""

    fan = models.OneToOneField(Fan, on_delete=models.CASCADE, related_name="carrier_info", primary_key=True)
    carrier = models.CharField(max_length=16)  # att | tmobile | verizon | other | unknown
    carrier_name = models.CharField(max_length=120, blank=True)
    line_type = models.CharField(max_length=24, blank=True)
    looked_up_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.carrier} ({self.carrier_name})"


class ArchiveFile(models.Model):
    """One gzipped JSONL file of archived message rows (issue 17 §5, archive.py): written before its
    rows are deleted, recorded in the same transaction as the delete, so a row is in the tables or
    in a recorded file, never neither. A file with no row here is a crashed run's and is rewritten."""

    class Table(models.TextChoices):
        OUTBOUND = "outbound", "Texts sent"
        INBOUND = "inbound", "Texts received"

    table = models.CharField(max_length=16, choices=Table.choices)
    month = models.DateField(help_text="First day of the month the rows were created in (UTC).")
    key = models.CharField(max_length=300, unique=True)  # path under the archive folder or bucket prefix
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    rows = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["table", "month", "first_id"]

    def __str__(self) -> str:
        return f"{self.key} ({self.rows} rows)"
