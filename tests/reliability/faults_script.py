"""Seed and read the fault test's private database from a subprocess (the test process's own
Django connection belongs to the suite's database).

    DATABASE_URL=... python -m tests.reliability.faults_script seed FANS [PARTS_PER_SECOND]
    DATABASE_URL=... python -m tests.reliability.faults_script report CAMPAIGN_ID
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["Q_SYNC"] = "true"  # nothing here may start a task; the clusters do the sending

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Fan  # noqa: E402
from messaging.campaigns.services import campaign_report, campaign_schedule  # noqa: E402
from messaging.models import Campaign, OutboundMessage  # noqa: E402
from messaging.sandbox.server import MAGIC_TO  # noqa: E402
from messaging.sending.models import UndeliverableNumber  # noqa: E402
from tests.factories import create_talent  # noqa: E402

OPTED_OUT = 12
UNDELIVERABLE = 9


def seed(fans: int, parts_per_second: int = 2000) -> dict:
    call_command("migrate", verbosity=0)
    talent = create_talent("faults", parts_per_second=parts_per_second, sender_number="+15005550006")
    talent.quiet_hours_start = talent.quiet_hours_end = dt.time(0, 0)  # no quiet hours: any time of day
    talent.save()
    now = timezone.now()
    magic = sorted(MAGIC_TO)  # the sandbox refuses these for good: 21211, 21612, 21408, 21610, 21614
    phones = magic + [f"+1415{7000000 + i:07d}" for i in range(fans - len(magic))]
    Fan.objects.bulk_create(
        Fan(
            talent=talent,
            phone=phone,
            first_name=f"F{i}",
            status=Fan.Status.OPTED_OUT if len(magic) <= i < len(magic) + OPTED_OUT else Fan.Status.ACTIVE,
            time_zone="UTC",
            joined_at=now,
        )
        for i, phone in enumerate(phones)
    )
    UndeliverableNumber.objects.bulk_create(
        UndeliverableNumber(talent=talent, phone=phone, error_code="30005") for phone in phones[-UNDELIVERABLE:]
    )
    campaign = Campaign.objects.create(
        talent=talent,
        name="Faults",
        body="Hi {first_name}, the tour starts Friday",
        schedule_mode=Campaign.ScheduleMode.AT,
        # Due in a moment, counted from now (the fans took a while): a start already due would
        # run inline here (Q_SYNC) and "send" through this process's locmem backend.
        send_at=timezone.now() + dt.timedelta(seconds=2),
    )
    campaign_schedule(campaign=campaign, actor=None)
    sendable = phones[len(magic) + OPTED_OUT : -UNDELIVERABLE]
    return {"campaign": campaign.pk, "fans": len(phones), "sendable": sendable, "magic": magic}


def report(campaign_id: int) -> dict:
    campaign = Campaign.objects.get(pk=campaign_id)
    rows = OutboundMessage.objects.filter(campaign=campaign)
    return {
        "status": campaign.status,
        "report": campaign_report(campaign=campaign),
        "rows": [[s, c, n] for s, c, n in rows.values_list("status", "error_code").annotate(n=Count("id")).order_by()],
        "sids": list(rows.exclude(provider_sid=None).values_list("provider_sid", flat=True)),
        "opted_out": Fan.objects.filter(talent=campaign.talent, status=Fan.Status.OPTED_OUT).count(),
    }


if __name__ == "__main__":
    what, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    print(json.dumps(seed(*args) if what == "seed" else report(*args), default=str))
