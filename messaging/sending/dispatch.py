"""The periodic heartbeat of the send path: start due campaigns, revive stalled ones, sweep."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from messaging.campaigns.models import Campaign
from messaging.sending.engine import campaign_has_due_rows, campaign_maybe_complete, campaign_start, campaign_sweep
from messaging.sms.models import OutboundMessage

S = OutboundMessage.Status
CS = Campaign.Status


def campaign_dispatch(
    *, now: dt.datetime | None = None, stalled_after: dt.timedelta | None = None
) -> dict[str, list[int]]:
    """The periodic heartbeat: start due campaigns, revive stalled ones, sweep dead leases.

    Returns the ids that need send tasks; the task layer enqueues them.
    """
    now = now or timezone.now()
    started = []
    for campaign_id in Campaign.objects.filter(status=CS.SCHEDULED, send_at__lte=now).values_list("id", flat=True):
        campaign = campaign_start(campaign_id=campaign_id, now=now)
        if campaign is not None and campaign.status == CS.SENDING:
            started.append(campaign.pk)
    campaign_sweep(now=now)
    if stalled_after is None:
        stalled_after = dt.timedelta(seconds=max(30, 2 * settings.CAMPAIGN_TASK_SECONDS))
    stalled_before = now - stalled_after
    revive = []
    for campaign_id in (
        Campaign.objects.filter(status=CS.SENDING)
        .filter(Q(last_batch_at__isnull=True) | Q(last_batch_at__lte=stalled_before))
        .exclude(pk__in=started)
        .values_list("id", flat=True)
    ):
        claimed = OutboundMessage.objects.filter(campaign_id=campaign_id, status=S.CLAIMED).exists()
        if claimed or campaign_has_due_rows(campaign_id=campaign_id, now=now):
            revive.append(campaign_id)
        else:
            campaign_maybe_complete(campaign_id=campaign_id, now=now)
    return {"started": started, "revive": revive}
