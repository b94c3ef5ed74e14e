"""Keep the tables bounded (issue 17 §5): old message rows go to gzipped JSONL files, per month.

What goes: a text (either way) older than MESSAGE_ARCHIVE_AFTER_DAYS whose words and numbers the
talent's retention policy has already wiped (messaging/privacy/retention.py), so an archive file
holds ids, statuses, times, SMS parts and error codes, never a fan's number or words. A campaign's
rows go only once the campaign is over (completed, cancelled, missed) and its reply window has
closed, all of them together, after its whole report was stored on the campaign
(`Campaign.archived_report`: campaign_report answers from it). A received text goes only when no
campaign whose report could still count it as a reply is left unstored.

The window must be longer than what reads old rows: a tracked link's life (a click finds its
message), reply attribution, the results' settling time and the one-a-day campaign cap. A system
check (messaging.E017) refuses a shorter one.

How a file is made, crash-safe: in one transaction, lock up to MESSAGE_ARCHIVE_ROWS_PER_FILE rows
of one talent, table and month (id order), write the file (to a temporary name, then renamed; on
S3 one PUT, checked by its length), delete the rows (clicks keep their count: their message link
is set to NULL, like the foreign key's on_delete), record an ArchiveFile row, commit. A crash
before the commit leaves the rows in the table and a file nobody recorded, written again under
the same key by the next run (its first id has not changed). A run twice archives nothing twice.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core import checks
from django.db import connection, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Talent
from messaging.campaigns.models import LINK_LIFETIME, Campaign
from messaging.campaigns.services import RESULTS_SETTLE, campaign_report
from messaging.sending.models import ArchiveFile
from messaging.sms.models import InboundMessage, OutboundMessage

S = OutboundMessage.Status
OVER = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED, Campaign.Status.MISSED)
UNSETTLED = (S.PENDING, S.CLAIMED, S.UNCERTAIN)
DELETE_SLICE = 1000  # ids per DELETE statement (SQLite's bound-parameter limit)


def shortest_window() -> dt.timedelta:
    """The archive window must outlive every reader of old rows (see the module docstring)."""
    attribution = dt.timedelta(hours=settings.CAMPAIGN_ATTRIBUTION_HOURS)
    return max(LINK_LIFETIME, attribution, RESULTS_SETTLE, dt.timedelta(days=1)) + dt.timedelta(days=1)


def archive_window() -> dt.timedelta:
    return dt.timedelta(days=settings.MESSAGE_ARCHIVE_AFTER_DAYS)


@checks.register()
def check_archive_window(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    floor = shortest_window()
    if archive_window() < floor:
        return [
            checks.Error(
                f"MESSAGE_ARCHIVE_AFTER_DAYS is {settings.MESSAGE_ARCHIVE_AFTER_DAYS}: archived texts must be older "
                f"than a tracked link's life, reply attribution and the results' settling time.",
                hint=f"Set it to {floor.days} days or more.",
                id="messaging.E017",
            )
        ]
    return []


# --- where the files go ---------------------------------------------------------------------------
class ArchiveStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def describe(self, key: str) -> str: ...


class LocalStore:
    """A folder (on several machines: a shared volume at the same path)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)  # a reader never sees half a file

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def describe(self, key: str) -> str:
        return str(self.root / key)


class S3Store:
    """S3 or any S3-compatible storage (MinIO, Ceph, R2 ...) through boto3."""

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str = "", region: str = "us-east-1") -> None:
        import boto3

        self.bucket, self.prefix = bucket, prefix
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)

    def put(self, key: str, data: bytes) -> None:
        name = self.prefix + key
        self.client.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType="application/gzip")
        stored = self.client.head_object(Bucket=self.bucket, Key=name)
        if stored["ContentLength"] != len(data):  # never delete rows a short upload did not keep
            raise OSError(f"s3://{self.bucket}/{name} holds {stored['ContentLength']} bytes, wrote {len(data)}")

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"


def default_store() -> ArchiveStore:
    if settings.MESSAGE_ARCHIVE_S3_BUCKET:
        return S3Store(
            settings.MESSAGE_ARCHIVE_S3_BUCKET,
            prefix=settings.MESSAGE_ARCHIVE_S3_PREFIX,
            endpoint_url=settings.MESSAGE_ARCHIVE_S3_ENDPOINT_URL,
            region=settings.MESSAGE_ARCHIVE_S3_REGION,
        )
    return LocalStore(settings.MESSAGE_ARCHIVE_DIR)


def read_archive(store: ArchiveStore, key: str) -> list[dict[str, Any]]:
    """The rows of one archive file, as written (one JSON object a line)."""
    with gzip.open(io.BytesIO(store.get(key)), "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


# --- what may go ----------------------------------------------------------------------------------
def archivable_campaigns(cutoff: dt.datetime) -> QuerySet[Campaign]:
    """Campaigns over, whose reply window closed before the cutoff, report not stored yet, and
    none of whose rows still has words or a number (the retention policy has been through)."""
    reply_window = dt.timedelta(hours=settings.CAMPAIGN_ATTRIBUTION_HOURS)
    unwiped = OutboundMessage.objects.filter(campaign=models.OuterRef("pk")).filter(
        ~Q(body="") | ~Q(to_number="") | ~Q(media_url="") | Q(status__in=UNSETTLED)
    )
    return Campaign.objects.filter(
        status__in=OVER, finished_at__lt=cutoff - reply_window, archived_report__isnull=True
    ).filter(~models.Exists(unwiped))


def store_reports(cutoff: dt.datetime) -> int:
    """Store the whole report of every campaign whose rows may now go (before any row goes)."""
    stored = 0
    for campaign in archivable_campaigns(cutoff).select_related("talent").iterator():
        report = json.loads(json.dumps(campaign_report(campaign=campaign), default=str))
        stored += Campaign.objects.filter(pk=campaign.pk, archived_report__isnull=True).update(archived_report=report)
    return stored


def outbound_rows(talent: Talent, cutoff: dt.datetime) -> QuerySet[OutboundMessage]:
    wiped = OutboundMessage.objects.filter(talent=talent, body="", to_number="", media_url="")
    return (
        wiped.filter(created_at__lt=cutoff)
        .exclude(status__in=UNSETTLED)
        .filter(Q(campaign__isnull=True) | Q(campaign__archived_report__isnull=False))
    )


def inbound_cutoff(talent: Talent, cutoff: dt.datetime) -> dt.datetime:
    """Received texts go up to the cutoff, but never one a report still to be stored could count as a
    reply: not later than the start of the talent's oldest campaign without a stored report."""
    oldest = (
        Campaign.objects.filter(talent=talent, archived_report__isnull=True, started_at__lt=cutoff)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return min(cutoff, oldest) if oldest else cutoff


def inbound_rows(talent: Talent, cutoff: dt.datetime) -> QuerySet[InboundMessage]:
    return InboundMessage.objects.filter(
        talent=talent,
        received_at__lt=inbound_cutoff(talent, cutoff),
        processed_at__isnull=False,
        body="",
        from_number="",
    )


# --- the run --------------------------------------------------------------------------------------
@dataclass
class ArchiveReport:
    reports_stored: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {"outbound": 0, "inbound": 0})
    files: list[str] = field(default_factory=list)
    bytes_written: int = 0
    # Heap and index bytes the deleted rows held (per-row size of each table before the run times
    # the rows deleted): what VACUUM makes reusable for new rows. PostgreSQL only; None elsewhere.
    reusable_bytes: int | None = None


def _next_month(start: dt.datetime) -> dt.datetime:
    return (start + dt.timedelta(days=32)).replace(day=1)


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _encode(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    # mtime=0: the same rows give the same bytes (a rewritten file after a crash is identical).
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        for row in rows:
            out.write(json.dumps(row, default=_json_default, ensure_ascii=False).encode() + b"\n")
    return buffer.getvalue()


def _columns(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def delete_rows(model: type[models.Model], ids: list[int]) -> None:
    """Delete rows by id as their foreign keys' on_delete says (SET_NULL, CASCADE), without
    loading them: a click keeps its count with no message, an inbound text's media rows go."""
    for rel in model._meta.related_objects:
        related_model = rel.related_model
        if rel.many_to_many or not rel.field.concrete or isinstance(related_model, str):
            continue
        related = related_model._base_manager.filter(**{f"{rel.field.name}__in": ids})
        if rel.on_delete is models.SET_NULL:
            related.update(**{rel.field.name: None})
        elif rel.on_delete is models.CASCADE:
            related.delete()
        elif rel.on_delete is not models.DO_NOTHING:  # PROTECT, RESTRICT, SET_DEFAULT: decide first
            raise NotImplementedError(f"archiving {model.__name__} rows: {related_model.__name__}.{rel.field.name}")
    table = model._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(ids), DELETE_SLICE):
            chunk = ids[start : start + DELETE_SLICE]
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk)  # noqa: S608


def _archive_month(
    store: ArchiveStore, table: str, qs: QuerySet, date_field: str, month: dt.datetime, talent_id: int, limit: int
) -> Iterator[ArchiveFile]:
    model = qs.model
    month_qs = qs.filter(**{f"{date_field}__gte": month, f"{date_field}__lt": _next_month(month)})
    columns = _columns(model)
    while True:
        with transaction.atomic():
            locked = month_qs.order_by("pk").select_for_update(of=("self",), skip_locked=True)
            rows = list(locked.values(*columns)[:limit])
            if not rows:
                return
            ids = [row["id"] for row in rows]
            key = f"{table}/{month:%Y-%m}/talent-{talent_id}/{ids[0]:012d}.jsonl.gz"
            data = _encode(rows)
            store.put(key, data)
            delete_rows(model, ids)
            record = ArchiveFile.objects.create(
                table=table,
                month=month.date(),
                key=key,
                first_id=ids[0],
                last_id=ids[-1],
                rows=len(ids),
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        yield record
        if len(rows) < limit:
            return


def table_bytes_per_row(model: type[models.Model]) -> float | None:
    """Heap + TOAST + index bytes per live row (PostgreSQL's own estimates; None elsewhere)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size(c.oid), c.reltuples FROM pg_class c WHERE c.oid = %s::regclass",
            [model._meta.db_table],
        )
        size, tuples = cursor.fetchone()
        if not tuples or tuples <= 0:
            cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")  # noqa: S608 - never analysed yet
            tuples = cursor.fetchone()[0]
    return size / tuples if tuples else None


def archive_messages(
    *, now: dt.datetime | None = None, store: ArchiveStore | None = None, limit: int | None = None
) -> ArchiveReport:
    """Archive every talent's old wiped message rows (the daily task and `manage.py archive_messages`)."""
    now = now or timezone.now()
    store = store or default_store()
    limit = limit or settings.MESSAGE_ARCHIVE_ROWS_PER_FILE
    cutoff = now - archive_window()
    report = ArchiveReport(reports_stored=store_reports(cutoff))
    per_row = {"outbound": table_bytes_per_row(OutboundMessage), "inbound": table_bytes_per_row(InboundMessage)}
    for talent in Talent.objects.order_by("pk"):
        for table, qs, date_field in (
            ("outbound", outbound_rows(talent, cutoff), "created_at"),
            ("inbound", inbound_rows(talent, cutoff), "received_at"),
        ):
            # The months with rows to go, truncated by the database (never every row's time).
            for month in qs.datetimes(date_field, "month", tzinfo=dt.UTC):
                for record in _archive_month(store, table, qs, date_field, month, talent.pk, limit):
                    report.rows[table] += record.rows
                    report.files.append(store.describe(record.key))
                    report.bytes_written += record.bytes
    if all(value is not None for value in per_row.values()):
        report.reusable_bytes = int(sum(report.rows[table] * (per_row[table] or 0) for table in per_row))
    return report
