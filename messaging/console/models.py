"""The home page's rollup: one row per talent per local day, written by a periodic task.

Why a rollup: the home page draws 60 days of joins and opt-outs; counting them from a million fan
rows and the consent log on every view would cost seconds. A closed day's figures never change
(once late arrivals are in), so the task computes each day once and the page reads 60 small rows.
Why not a counter row each join updates: under a celebrity burst every signup would queue on the
same row lock. Today's figures are live, indexed window queries, cached for a minute.
"""

from __future__ import annotations

from django.db import models

from accounts.models import Talent


class DailyFigures(models.Model):
    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField(help_text="A calendar day in the talent's time zone.")
    # Fans whose joined_at falls in the day, by their first contact (Fan.source is set when the
    # row is created and never changes, so it is how the fan first reached the talent).
    joins_sms = models.PositiveIntegerField(default=0)
    joins_web = models.PositiveIntegerField(default=0)
    joins_import = models.PositiveIntegerField(default=0)
    joins_console = models.PositiveIntegerField(default=0)
    joins_other = models.PositiveIntegerField(default=0)  # synthetic demo fans
    # Messaging consents withdrawn that day (the append-only consent log, so a fan who opted out and
    # back in still counts on the day they left).
    opt_outs = models.PositiveIntegerField(default=0)
    # Snapshots, on today's row only: active fans and the top regions when the task last ran.
    members = models.PositiveIntegerField(null=True, blank=True)
    top_regions = models.JSONField(default=list, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["talent", "day"], name="dailyfigures_talent_day")]
        verbose_name_plural = "daily figures"

    def __str__(self) -> str:
        return f"{self.talent_id} {self.day}"

    @property
    def joins(self) -> int:
        return self.joins_sms + self.joins_web + self.joins_import + self.joins_console + self.joins_other
