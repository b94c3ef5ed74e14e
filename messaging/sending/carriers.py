"""Fans' carriers, looked up lazily (issue 17): when a campaign of a talent that opted in starts,
its recipients whose carrier we never asked for are looked up at Twilio (Lookup v2 line type
intelligence) in chunks, each answer cached on the fan (FanCarrier) for every later campaign.

Until a fan's answer is in, the claim puts them on the "other" lane, paced at the slowest
carrier's rate, so a lookup that is slow or fails never makes a 10DLC sender exceed a carrier's
limit; it only makes those fans' texts slower.
"""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task

from messaging.sending.models import FanCarrier, SenderPool
from messaging.sms.lookup import lookup_carriers, lookups_configured
from messaging.sms.models import OutboundMessage

LOOKUP_TASK = "messaging.tasks.lookup_carriers"  # by dotted path: the task layer is above this one
CHUNK = 500


def lookups_wanted(talent_id: int) -> bool:
    return lookups_configured() and SenderPool.objects.filter(talent_id=talent_id, lookup_carriers=True).exists()


def carriers_lookup_enqueue(*, campaign_id: int, talent_id: int) -> None:
    """After the campaign's start commits, look up its recipients' carriers (opted-in talents)."""
    if lookups_wanted(talent_id):
        transaction.on_commit(lambda: async_task(LOOKUP_TASK, campaign_id, group=f"campaign-{campaign_id}"))


def campaign_carriers_lookup(*, campaign_id: int, limit: int = CHUNK) -> dict[str, int]:
    """Look up the carriers of up to `limit` waiting recipients never looked up; `more` says
    whether some are left (the task then hands over to a fresh one)."""
    rows = OutboundMessage.objects.filter(
        campaign_id=campaign_id, status=OutboundMessage.Status.PENDING, fan__carrier_info__isnull=True
    ).filter(fan__isnull=False)
    talent_id = OutboundMessage.objects.filter(campaign_id=campaign_id).values_list("talent_id", flat=True).first()
    if talent_id is None or not lookups_wanted(talent_id):
        return {"looked_up": 0, "more": 0}
    wanted = dict(rows.order_by("id").values_list("to_number", "fan_id")[:limit])
    found = lookup_carriers(list(wanted))
    FanCarrier.objects.bulk_create(
        [
            FanCarrier(
                fan_id=wanted[number], carrier=info.carrier, carrier_name=info.carrier_name, line_type=info.line_type
            )
            for number, info in found.items()
        ],
        ignore_conflicts=True,  # another task (or a redelivery) got there first: same answer
    )
    return {"looked_up": len(found), "more": int(len(wanted) == limit and len(found) > 0)}
