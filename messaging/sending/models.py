"""The send engine's own rows: each sender's shared time line, numbers that can never receive."""

from __future__ import annotations

from django.db import models

from accounts.models import Talent


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
