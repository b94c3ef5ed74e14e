"""Carrier opt-out (Twilio 21610) until the join branch's consent services are merged.

Writes the ConsentRecord (withdrawn, method carrier) and the fan's status in one transaction, the
rule every opt-out follows. Swap for the join helper's fan_opt_out service once it lands.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Fan
from consent.models import ConsentRecord


def fan_opt_out_by_carrier(*, fan_id: int, evidence: str = "") -> bool:
    """Opt a fan out because the carrier reports they replied STOP. False if already out."""
    with transaction.atomic():
        fan = Fan.objects.select_for_update().filter(pk=fan_id).first()
        if fan is None or fan.status in (Fan.Status.OPTED_OUT, Fan.Status.ERASED):
            return False
        now = timezone.now()
        ConsentRecord.objects.create(
            fan=fan,
            talent_id=fan.talent_id,
            purpose=ConsentRecord.Purpose.MESSAGING,
            action=ConsentRecord.Action.WITHDRAWN,
            method=ConsentRecord.Method.CARRIER,
            evidence=evidence[:200],
        )
        fan.status = Fan.Status.OPTED_OUT
        fan.opted_out_at = now
        fan.save(update_fields=["status", "opted_out_at", "updated_at"])
    return True
