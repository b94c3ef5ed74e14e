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

Which files, planned once (plan_files): one query per table numbers the rows that may go per
talent and month in id order (a window function) and returns each file's first and last id, so
a run costs one scan of each table, not a search for the next rows per file (no index leads with
the talent and the time; at 10M rows that search was a scan per file).

How a file is made, crash-safe: in one transaction, lock up to MESSAGE_ARCHIVE_ROWS_PER_FILE rows
of one talent, table and month within the planned ids (every condition checked again), delete
them and take them back as JSON Lines (on PostgreSQL one statement: DELETE ... RETURNING,
row_to_json, string_agg, with the foreign keys' on_delete as steps of the same WITH; elsewhere
through Python), write the file (to a temporary name, then renamed; on S3 one PUT, checked by
its length), record an ArchiveFile row, commit. Clicks keep their count (their message link is
set to NULL, like the foreign key's on_delete). A failed write raises inside the transaction, so
the delete rolls back; a crash before the commit leaves the rows in the table and a file nobody
recorded, written again under the same key by the next run (its first id has not changed). A
run twice archives nothing twice. Memory is one file's rows (a 50,000-row file is a few MB of
JSON), whatever the table holds.

The file: one JSON object a line, keys the model's attribute names (`parts`, `campaign_id`),
times ISO 8601 in UTC, in id order; gzip level 6 with mtime 0 (the same rows, the same bytes).
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
from django.db.models import F, Q, QuerySet, Window
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.functions import RowNumber, Trunc
from django.utils import timezone

from messaging.campaigns.models import LINK_LIFETIME, Campaign
from messaging.campaigns.services import RESULTS_SETTLE, campaign_report
from messaging.sending.models import ArchiveFile
from messaging.sms.models import InboundMessage, OutboundMessage

S = OutboundMessage.Status
OVER = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED, Campaign.Status.MISSED)
UNSETTLED = (S.PENDING, S.CLAIMED, S.UNCERTAIN)
DELETE_SLICE = 1000  # ids per DELETE statement (SQLite's bound-parameter limit)
GZIP_LEVEL = 6


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


def outbound_rows(cutoff: dt.datetime) -> QuerySet[OutboundMessage]:
    """Every talent's sent texts that may go: wiped, settled, and not a campaign's whose report is unstored."""
    return (
        OutboundMessage.objects.filter(body="", to_number="", media_url="", created_at__lt=cutoff)
        .exclude(status__in=UNSETTLED)
        .filter(Q(campaign__isnull=True) | Q(campaign__archived_report__isnull=False))
    )


def inbound_cutoffs(cutoff: dt.datetime) -> dict[int, dt.datetime]:
    """Received texts go up to the cutoff, but never one a report still to be stored could count as a
    reply: per talent, not later than the start of its oldest campaign without a stored report."""
    oldest = (
        Campaign.objects.filter(archived_report__isnull=True, started_at__lt=cutoff)
        .values("talent_id")
        .annotate(start=models.Min("started_at"))
        .values_list("talent_id", "start")
    )
    return dict(oldest)


def inbound_rows(cutoff: dt.datetime) -> QuerySet[InboundMessage]:
    """Every talent's received texts that may go: processed, wiped, older than the talent's cutoff."""
    rows = InboundMessage.objects.filter(received_at__lt=cutoff, processed_at__isnull=False, body="", from_number="")
    for talent_id, start in inbound_cutoffs(cutoff).items():  # at most one condition per talent
        rows = rows.exclude(talent_id=talent_id, received_at__gte=start)
    return rows


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


def _gzip(text: bytes) -> bytes:
    # mtime=0: the same rows give the same bytes (a rewritten file after a crash is identical).
    # Level 6 (gzip's own default), not Python's 9: on a 50,000-row file level 9 took 3.2x the
    # time for 9 % fewer bytes (docs/ARCHITECTURE.md, archiving at 10 million rows).
    return gzip.compress(text, compresslevel=GZIP_LEVEL, mtime=0)


def _encode(rows: list[dict[str, Any]]) -> bytes:
    lines = [json.dumps(row, default=_json_default, ensure_ascii=False, separators=(",", ":")) for row in rows]
    return _gzip(("\n".join(lines) + "\n").encode())


def _columns(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _related(model: type[models.Model]) -> Iterator[tuple[type[models.Model], models.ForeignObject, Any]]:
    # include_hidden: a foreign key with related_name="+" (a poll vote's message) is not in
    # related_objects, yet its constraint refuses the commit all the same.
    for rel in model._meta.get_fields(include_hidden=True):
        if not isinstance(rel, ForeignObjectRel) or not (rel.one_to_many or rel.one_to_one):
            continue
        related_model = rel.related_model
        if not rel.field.concrete or isinstance(related_model, str):
            continue
        if rel.on_delete not in (models.SET_NULL, models.CASCADE, models.DO_NOTHING):
            # PROTECT, RESTRICT, SET_DEFAULT: decide what archiving means for them first.
            raise NotImplementedError(f"archiving {model.__name__} rows: {related_model.__name__}.{rel.field.name}")
        yield related_model, rel.field, rel.on_delete


def _unlink_related(model: type[models.Model], ids: list[int]) -> None:
    """What each foreign key's on_delete says for rows pointing at these ids (SET_NULL, CASCADE),
    without loading them: a click keeps its count with no message, an inbound text's media go."""
    for related_model, fk, on_delete in _related(model):
        if on_delete is models.DO_NOTHING:
            continue
        for start in range(0, len(ids), DELETE_SLICE):
            related = related_model._base_manager.filter(**{f"{fk.name}__in": ids[start : start + DELETE_SLICE]})
            if on_delete is models.SET_NULL:
                related.update(**{fk.name: None})
            else:
                related.delete()


def delete_rows(model: type[models.Model], ids: list[int]) -> None:
    """Delete rows by id as their foreign keys' on_delete says, without loading them."""
    _unlink_related(model, ids)
    table = model._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(ids), DELETE_SLICE):
            chunk = ids[start : start + DELETE_SLICE]
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk)  # noqa: S608


@dataclass(frozen=True)
class PlannedFile:
    talent_id: int
    month: dt.datetime
    first_id: int
    last_id: int


def _as_month(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):  # SQLite's truncation comes back as text from a raw query
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def plan_files(qs: QuerySet, date_field: str, limit: int) -> list[PlannedFile]:
    """Every file this run will write, from one query: the rows that may go, numbered in id order
    per talent and month (a window function), cut into runs of `limit`, each run's first and last id.

    One scan and sort of the table in the database and one small row per file back, instead of a
    search for the next `limit` rows of each talent and month per file (a scan of the table each
    time at 10M rows: no index leads with the talent and the time) or every id through Python."""
    month = Trunc(date_field, "month", tzinfo=dt.UTC)
    numbered = (
        qs.order_by()
        .annotate(
            archive_month=month,
            archive_n=Window(RowNumber(), partition_by=[F("talent_id"), month], order_by=F("pk").asc()),
        )
        .values("archive_month", "archive_n", archive_talent=F("talent_id"), archive_id=F("pk"))
    )
    inner, params = numbered.query.sql_with_params()
    sql = (
        "SELECT archive_talent, archive_month, MIN(archive_id), MAX(archive_id) FROM ("  # noqa: S608 - the ORM's own SQL
        f"{inner}) numbered GROUP BY archive_talent, archive_month, (archive_n - 1) / %s "
        "ORDER BY archive_talent, archive_month, MIN(archive_id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [PlannedFile(t, _as_month(m), first, last) for t, m, first, last in cursor.fetchall()]


def _take_postgres(model: type[models.Model], locked: QuerySet) -> tuple[int, int, int, bytes]:
    """Delete the locked rows, apply each foreign key's on_delete to the rows pointing at them, and
    get them back as JSON Lines, in one statement: the database writes each row's JSON
    (row_to_json) and joins the lines, so no row and no id passes through Python.

    Returns (rows, first id, last id, gzipped bytes)."""
    quote = connection.ops.quote_name
    returning = ", ".join(f"{quote(f.column)} AS {quote(f.attname)}" for f in model._meta.concrete_fields)
    inner, params = locked.values("pk").query.sql_with_params()
    steps = [f"gone AS (DELETE FROM {quote(model._meta.db_table)} WHERE id IN ({inner}) RETURNING {returning})"]
    for n, (related_model, fk, on_delete) in enumerate(_related(model)):
        table, column = quote(related_model._meta.db_table), quote(fk.column)
        if on_delete is models.SET_NULL:
            steps.append(f"r{n} AS (UPDATE {table} SET {column} = NULL WHERE {column} IN (SELECT id FROM gone))")
        elif on_delete is models.CASCADE:
            if any(_related(related_model)):  # its own dependants: Django's collector decides (none today)
                raise NotImplementedError(f"archiving {model.__name__} rows: {related_model.__name__} has dependants")
            steps.append(f"r{n} AS (DELETE FROM {table} WHERE {column} IN (SELECT id FROM gone))")
    # Foreign keys are checked at commit (Django makes them DEFERRABLE INITIALLY DEFERRED on
    # PostgreSQL), and each step reads the deleted ids from `gone`, so the order within is free.
    sql = (
        f"WITH {', '.join(steps)} "  # noqa: S608 - table and column names from the models
        "SELECT count(*), min(id), max(id), string_agg(row_to_json(gone)::text, E'\\n' ORDER BY id) FROM gone"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count, first, last, text = cursor.fetchone()
    if not count:
        return 0, 0, 0, b""
    return count, first, last, _gzip(text.encode() + b"\n")


def _take_python(model: type[models.Model], locked: QuerySet) -> tuple[int, int, int, bytes]:
    """The same on SQLite (a small install): the rows through Python, deleted by id in slices."""
    rows = list(locked.values(*_columns(model)))
    if not rows:
        return 0, 0, 0, b""
    ids = [row["id"] for row in rows]
    data = _encode(rows)
    delete_rows(model, ids)
    return len(ids), ids[0], ids[-1], data


def _archive_file(
    store: ArchiveStore, table: str, qs: QuerySet, date_field: str, planned: PlannedFile, limit: int
) -> ArchiveFile | None:
    """One file, crash-safe: lock, delete and read the planned rows, write the file, record it, commit."""
    model = qs.model
    month = planned.month
    rows = qs.filter(
        talent_id=planned.talent_id,
        pk__gte=planned.first_id,
        pk__lte=planned.last_id,
        **{f"{date_field}__gte": month, f"{date_field}__lt": _next_month(month)},
    )
    take = _take_postgres if connection.vendor == "postgresql" else _take_python
    with transaction.atomic():
        # Every condition again under the lock (a row changed since the plan stays); skip_locked:
        # two runs at once never wait for each other or archive a row twice.
        locked = rows.order_by("pk").select_for_update(of=("self",), skip_locked=True)[:limit]
        count, first_id, last_id, data = take(model, locked)
        if not count:
            return None
        key = f"{table}/{month:%Y-%m}/talent-{planned.talent_id}/{first_id:012d}.jsonl.gz"
        store.put(key, data)  # raises: the transaction rolls back, the rows stay
        return ArchiveFile.objects.create(
            table=table,
            month=month.date(),
            key=key,
            first_id=first_id,
            last_id=last_id,
            rows=count,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )


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
    for table, qs, date_field in (
        ("outbound", outbound_rows(cutoff), "created_at"),
        ("inbound", inbound_rows(cutoff), "received_at"),
    ):
        for planned in plan_files(qs, date_field, limit):
            record = _archive_file(store, table, qs, date_field, planned, limit)
            if record is not None:
                report.rows[table] += record.rows
                report.files.append(store.describe(record.key))
                report.bytes_written += record.bytes
    if all(value is not None for value in per_row.values()):
        report.reusable_bytes = int(sum(report.rows[table] * (per_row[table] or 0) for table in per_row))
    return report
