"""Keep less: each talent's retention policy, applied by a daily task (messaging.tasks.apply_retention).

The policy lives on the talent (`keep_message_bodies_days` 180, `keep_inbound_media_days` 30,
`keep_import_reports_days` 7 by default; edited on its console page and stated on its public
privacy page). What goes: the words of texts both ways and the numbers on those rows, the links
to pictures fans texted, an import's error report (it may quote rows). What stays: the rows
themselves with their counts, statuses, times and fan (campaign reports, reply figures, the
join-link de-duplication), and every consent record (the proof). Idempotent: a wiped row no
longer matches, so a run twice (or a lost run, made up the next day) changes nothing more.

Work goes in slices of `_SLICE` rows, each its own short transaction, so a first run over a big
backlog never holds locks on the message tables for long.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Talent
from messaging.audience.models import ImportBatch
from messaging.conversations.media import media_expire
from messaging.sms.models import InboundMessage, OutboundMessage

_SLICE = 2000
_UNSETTLED = (OutboundMessage.Status.PENDING, OutboundMessage.Status.CLAIMED, OutboundMessage.Status.UNCERTAIN)
# Twilio's inbound form fields that point at a fan's picture (MediaUrl0..9, MediaContentType0..9).
_MEDIA_PREFIXES = ("MediaUrl", "MediaContentType")


@dataclass
class RetentionReport:
    inbound_wiped: int = 0
    outbound_wiped: int = 0
    media_wiped: int = 0
    import_reports_wiped: int = 0
    by_talent: dict[int, dict[str, int]] = field(default_factory=dict)


def _in_slices(queryset: QuerySet, **changes) -> int:
    done = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:_SLICE])
            if not ids:
                return done
            done += queryset.model.objects.filter(pk__in=ids).update(**changes)
        if len(ids) < _SLICE:
            return done


def _wipe_media(queryset: QuerySet[InboundMessage]) -> int:
    done = 0
    last = 0
    while True:
        with transaction.atomic():
            rows = list(queryset.filter(pk__gt=last).order_by("pk").only("pk", "payload")[:_SLICE])
            for row in rows:
                row.payload = {
                    k: ("0" if k == "NumMedia" else v)
                    for k, v in (row.payload or {}).items()
                    if not k.startswith(_MEDIA_PREFIXES)
                }
            InboundMessage.objects.bulk_update(rows, ["payload"], batch_size=500)
        done += len(rows)
        if len(rows) < _SLICE:
            return done
        last = rows[-1].pk


def retention_apply_talent(*, talent: Talent, now: dt.datetime | None = None) -> dict[str, int]:
    """Apply one talent's policy; returns what was wiped (an audit row when anything was)."""
    now = now or timezone.now()
    bodies_before = now - dt.timedelta(days=talent.keep_message_bodies_days)
    media_before = now - dt.timedelta(days=talent.keep_inbound_media_days)
    reports_before = now - dt.timedelta(days=talent.keep_import_reports_days)

    inbound = InboundMessage.objects.filter(talent=talent, received_at__lt=bodies_before).filter(
        processed_at__isnull=False  # the rule processor must have read it first
    )
    counts = {
        "inbound": _in_slices(
            inbound.filter(~Q(body="") | ~Q(from_number="") | ~Q(payload={})), body="", from_number="", payload={}
        ),
        # Not a row still to send, being sent, or uncertain (to be reconciled by its words).
        "outbound": _in_slices(
            OutboundMessage.objects.filter(talent=talent, created_at__lt=bodies_before)
            .exclude(status__in=_UNSETTLED)
            .filter(~Q(body="") | ~Q(to_number="") | ~Q(media_url="")),
            body="",
            to_number="",
            media_url="",
        ),
        "media": _wipe_media(
            InboundMessage.objects.filter(talent=talent, received_at__lt=media_before, payload__has_key="MediaUrl0")
        ),
        # The inbox's stored MMS files (issue 13) go on the same clock as the links to them.
        "media_files": media_expire(talent_id=talent.pk, before=media_before),
        "import_reports": _in_slices(
            ImportBatch.objects.filter(talent=talent, created_at__lt=reports_before).exclude(error_report=""),
            error_report="",
        ),
    }
    if any(counts.values()):
        audit("privacy.retention_applied", talent=talent, **counts)  # counts only, no personal data
    return counts


def retention_apply(*, now: dt.datetime | None = None) -> RetentionReport:
    """Every talent's policy (the daily task)."""
    report = RetentionReport()
    for talent in Talent.objects.order_by("pk"):
        counts = retention_apply_talent(talent=talent, now=now)
        report.by_talent[talent.pk] = counts
        report.inbound_wiped += counts["inbound"]
        report.outbound_wiped += counts["outbound"]
        report.media_wiped += counts["media"]
        report.import_reports_wiped += counts["import_reports"]
    return report
