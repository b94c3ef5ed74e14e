"""CSV imports of fans, with consent evidence, as batches: pending -> running -> completed/failed.

The file is read once, streaming, by the row reader (import_rows.py): phones to E.164, dates,
codes; erased numbers (kept only as a keyed hash) are skipped, duplicate numbers reported. Good rows
are upserted on (talent, phone) in ONE transaction together with the batch's `completed` status. A
malformed file or a wrong encoding found at any line rolls the whole batch back. PostgreSQL: COPY
into a temp table, then one INSERT ... SELECT ... ON CONFLICT that also writes the ConsentRecords and
list memberships. SQLite: batched bulk_create/bulk_update. The console's two-step upload (preview,
column mapping) is import_staging.py; streamed exports are exports.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from typing import IO, Any

import phonenumbers
from django.conf import settings
from django.core.files.base import File
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from accounts.actors import require
from accounts.audit import audit
from accounts.models import Fan, Talent
from consent.models import ConsentRecord
from messaging.audience.import_rows import (
    PROFILE_FIELDS,
    CleanRow,
    ImportRefused,
    RowReader,
    max_import_bytes,
    max_import_rows,
    normalise_phone,  # noqa: F401  (callers import it from here)
)

# Kept importable from here (the console's lists page and older callers): lists from a CSV of numbers.
from messaging.audience.list_csv import ListCsvResult, contact_list_update_from_csv  # noqa: F401
from messaging.audience.models import ContactList, ContactListMember, FanTag, ImportBatch, Tag

IMPORT_TASK = "messaging.tasks.run_import"  # the task that runs a queued import (by path: it sits above)
# What a finished import tells the layers above about the fans it made active (created, or pending
# ones completed), called in the import's transaction with (batch, fan ids): the fan.joined webhook
# and the welcome series' "also for fans added by import". Registered by messaging/apps.py (top
# layer); this layer cannot import them. Fans who were active already did not join now.
JoinedHook = Callable[..., Any]
JOINED_HOOKS: list[JoinedHook] = []


def import_batch_create(
    *,
    talent: Talent,
    file: IO[bytes] | File,
    original_name: str,
    consent_source: str,
    consent_date: dt.date | None,
    default_region: str = "",
    contact_list: ContactList | None = None,
    actor: Any = None,
) -> ImportBatch:
    """Store the file and its consent evidence as a pending batch; refuses an import without evidence."""

    require(actor, "edit_audience", talent)
    if not (consent_source or "").strip():
        raise ImportRefused("consent evidence is required: say where these fans agreed to receive texts")
    if consent_date is None:
        raise ImportRefused("consent evidence is required: give the date these fans agreed")
    if consent_date > timezone.localdate():
        raise ImportRefused("the consent date is in the future")
    region = (default_region or settings.PHONENUMBER_DEFAULT_REGION).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ImportRefused(f"{region!r} is not a region phone numbers can be read for (e.g. US, GB)")
    if contact_list is not None and contact_list.talent_id != talent.pk:
        raise ImportRefused("the contact list belongs to another talent")
    size = getattr(file, "size", None)
    if size is not None and size > max_import_bytes():
        raise ImportRefused(f"the file is {size:,} bytes; the limit is {max_import_bytes():,}")
    django_file = file if isinstance(file, File) else File(file)
    with transaction.atomic():
        batch = ImportBatch(
            talent=talent,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            original_name=original_name[:200],
            consent_source=consent_source.strip()[:200],
            consent_date=consent_date,
            default_region=region,
            contact_list=contact_list,
        )
        batch.file.save(original_name.rsplit("/", 1)[-1][:100] or "import.csv", django_file, save=False)
        batch.save()
        audit("import.created", talent=talent, actor=actor, obj=batch, file=batch.original_name)
    return batch


def import_batch_start(*, batch: ImportBatch) -> ImportBatch:
    """Run a new batch now if its file is small, else queue it (after this transaction commits).

    Either way the batch is the record: pending -> running -> completed/failed.
    """
    if batch.file.size <= settings.AUDIENCE_IMPORT_INLINE_MAX_BYTES:
        return import_batch_run(batch=batch)
    # By the task's dotted path: the task layer sits above this one.
    transaction.on_commit(lambda: async_task(IMPORT_TASK, batch.pk, group="imports"))
    return batch


def import_batch_run(*, batch: ImportBatch) -> ImportBatch:
    """Run a pending (or interrupted) batch. Whole or nothing; a re-run never duplicates a fan."""
    claimed = ImportBatch.objects.filter(
        pk=batch.pk, status__in=[ImportBatch.Status.PENDING, ImportBatch.Status.RUNNING]
    ).update(status=ImportBatch.Status.RUNNING, started_at=timezone.now(), failure="")
    if not claimed:
        batch.refresh_from_db()
        return batch  # completed or refused already: running it again would change nothing
    try:
        with transaction.atomic():
            # The row lock makes a second runner wait, then see `completed` and stop.
            locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
            if locked.status != ImportBatch.Status.RUNNING:
                return locked
            joined = _run_locked(locked)
            for hook in JOINED_HOOKS:
                hook(batch=locked, fan_ids=joined)
            locked.status = ImportBatch.Status.COMPLETED
            locked.finished_at = timezone.now()
            locked.save()
            audit(
                "import.completed",
                talent=locked.talent,
                actor=locked.created_by,
                obj=locked,
                created=locked.created_count,
                updated=locked.updated_count,
                errors=locked.error_count,
                skipped_erased=locked.skipped_erased,
            )
    except ImportRefused as exc:
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportBatch.Status.FAILED, failure=str(exc), finished_at=timezone.now()
        )
    batch.refresh_from_db()
    if batch.status in (ImportBatch.Status.COMPLETED, ImportBatch.Status.FAILED):
        transaction.on_commit(lambda: _discard_file(batch.pk))
    return batch


def _discard_file(batch_id: int) -> None:
    """A finished batch no longer needs its upload: the rows are fans now (which erasure reaches),
    the counts and error report stay on the batch. Keeping the file would keep every number in it,
    erased ones included. An interrupted batch never gets here and keeps its file for the re-run."""
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None or not batch.file:
        return
    name = batch.file.name
    batch.file.storage.delete(name)
    ImportBatch.objects.filter(pk=batch_id, file=name).update(file="")


def _run_locked(batch: ImportBatch) -> list[int]:
    """Apply the file; the ids of the fans it made active (JOINED_HOOKS)."""
    talent = batch.talent
    erased = set(
        Fan.objects.filter(talent=talent, status=Fan.Status.ERASED)
        .exclude(phone_hash="")
        .values_list("phone_hash", flat=True)
    )
    reader = RowReader(
        talent=talent, default_region=batch.default_region, erased_hashes=erased, max_rows=max_import_rows()
    )
    joined_at = dt.datetime.combine(batch.consent_date, dt.time(12, 0), tzinfo=dt.UTC)
    with batch.file.open("rb") as fh:
        rows = reader.rows(fh)
        if connection.vendor == "postgresql":
            created, updated, joined = _apply_postgresql(batch, rows, joined_at)
        else:
            created, updated, joined = _apply_orm(batch, rows, joined_at)
    state = reader.state
    batch.total_rows = state.total
    batch.created_count = created
    batch.updated_count = updated
    batch.skipped_erased = state.skipped_erased
    batch.error_count = len(state.errors)
    batch.error_report = error_report(state.errors)
    return joined


def error_report(errors: list[tuple[int, str]]) -> str:
    """The downloadable "line,reason" CSV of refused rows ("" when every row was good)."""
    if not errors:
        return ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", "reason"])
    writer.writerows(errors)
    return out.getvalue()


def _consent_disclosure(batch: ImportBatch) -> str:
    return f"Imported by the talent's team. Source: {batch.consent_source}. Agreed on {batch.consent_date:%Y-%m-%d}."


def _apply_orm(batch: ImportBatch, rows: Iterator[CleanRow], joined_at: dt.datetime) -> tuple[int, int, list[int]]:
    """The portable path (SQLite): chunks of bulk_create / bulk_update inside the batch's transaction.
    Returns (created, updated, ids of the fans made active: new ones and completed pending ones)."""
    created = updated = 0
    joined: list[int] = []
    chunk: list[CleanRow] = []

    def flush() -> None:
        nonlocal created, updated
        phones = [r.phone for r in chunk]
        existing = {str(f.phone): f for f in Fan.objects.filter(talent=batch.talent, phone__in=phones)}
        new_fans, changed = [], []
        for row in chunk:
            fan = existing.get(row.phone)
            if fan is None:
                new_fans.append(
                    Fan(
                        talent=batch.talent,
                        phone=row.phone,
                        status=Fan.Status.ACTIVE,
                        source=Fan.Source.IMPORT,
                        joined_at=joined_at,
                        **row.values,
                    )
                )
            else:
                for name, value in row.values.items():
                    setattr(fan, name, value)
                if fan.status == Fan.Status.PENDING:
                    fan.status = Fan.Status.ACTIVE
                    fan.joined_at = fan.joined_at or joined_at
                    joined.append(fan.pk)
                fan.updated_at = timezone.now()
                changed.append(fan)
        Fan.objects.bulk_create(new_fans, batch_size=500)
        joined.extend(f.pk for f in new_fans)  # bulk_create sets the ids (RETURNING, SQLite 3.35+)
        if changed:
            Fan.objects.bulk_update(
                changed, [*PROFILE_FIELDS, "birth_date", "status", "joined_at", "updated_at"], batch_size=500
            )
        created += len(new_fans)
        updated += len(changed)
        fans = {str(f.phone): f for f in Fan.objects.filter(talent=batch.talent, phone__in=phones)}
        _write_side_rows(batch, chunk, fans)
        chunk.clear()

    for row in rows:
        chunk.append(row)
        if len(chunk) >= 1000:
            flush()
    if chunk:
        flush()
    return created, updated, joined


def _write_side_rows(batch: ImportBatch, chunk: list[CleanRow], fans: dict[str, Fan]) -> None:
    disclosure = _consent_disclosure(batch)
    ConsentRecord.objects.bulk_create(
        [
            ConsentRecord(
                fan=fan,
                talent=batch.talent,
                purpose=ConsentRecord.Purpose.MESSAGING,
                action=ConsentRecord.Action.GRANTED,
                method=ConsentRecord.Method.IMPORT,
                evidence=batch.evidence,
                disclosure=disclosure,
            )
            for fan in fans.values()
            if fan.status == Fan.Status.ACTIVE
        ],
        batch_size=500,
    )
    if batch.contact_list_id:
        ContactListMember.objects.bulk_create(
            [ContactListMember(contact_list_id=batch.contact_list_id, fan=fan) for fan in fans.values()],
            ignore_conflicts=True,
            batch_size=500,
        )
    wanted = {(row.phone, tag) for row in chunk for tag in row.tags}
    if wanted:
        names = {tag for _, tag in wanted}
        Tag.objects.bulk_create([Tag(talent=batch.talent, name=n) for n in names], ignore_conflicts=True)
        tag_ids = dict(Tag.objects.filter(talent=batch.talent, name__in=names).values_list("name", "id"))
        FanTag.objects.bulk_create(
            [FanTag(tag_id=tag_ids[tag], fan=fans[phone]) for phone, tag in wanted if phone in fans],
            ignore_conflicts=True,
            batch_size=500,
        )


_CONSENT_CTE = """
    cr AS (
        INSERT INTO consent_consentrecord (
            fan_id, talent_id, purpose, action, method, disclosure, user_agent, evidence, created_at
        )
        SELECT id, %s, 'messaging', 'granted', 'import', %s, '', %s, now() FROM up WHERE status = 'active'
    )"""
_LIST_CTE = """,
    lm AS (
        INSERT INTO messaging_contactlistmember (contact_list_id, fan_id, added_at)
        SELECT %s, id, now() FROM up ON CONFLICT (contact_list_id, fan_id) DO NOTHING
    )"""


def _split_sql(fan_table: str, text_cols: list[str], talent_id: int, joined_at, with_list: bool):
    """One statement: UPDATE the known numbers that change, INSERT the new ones, consent rows (+ list).

    Known fans whose row would not change are not rewritten (re-importing the same list is
    common, and an unchanged row costs nothing); they still count as updated and still get the
    batch's consent record when they end up active.
    """
    new_values = {c: f"coalesce(nullif(t.{c}, ''), f.{c})" for c in text_cols}
    new_values["birth_date"] = "coalesce(t.birth_date, f.birth_date)"
    # a pending fan completes with this evidence; opted-out and erased fans stay so
    new_values["status"] = "CASE WHEN f.status = 'pending' THEN 'active' ELSE f.status END"
    new_values["joined_at"] = "coalesce(f.joined_at, %s)"
    update_set = ", ".join(f"{c} = {expr}" for c, expr in new_values.items())
    old_row = ", ".join(f"f.{c}" for c in new_values)
    new_row = ", ".join(new_values.values())
    insert_values = ", ".join(f"coalesce(t.{c}, '')" for c in text_cols)
    sql = f"""
        WITH matched AS (
            SELECT f.id, f.status FROM {fan_table} f JOIN fc_import t ON f.talent_id = %s AND f.phone = t.phone
        ),
        upd AS (
            UPDATE {fan_table} AS f SET {update_set}, updated_at = now()
            FROM fc_import t
            WHERE f.talent_id = %s AND f.phone = t.phone AND ({old_row}) IS DISTINCT FROM ({new_row})
        ),
        ins AS (
            INSERT INTO {fan_table} (
                talent_id, phone, phone_hash, {", ".join(text_cols)}, birth_date, status,
                shares_with_partners, source, joined_at, created_at, updated_at
            )
            SELECT %s, t.phone, '', {insert_values}, t.birth_date, 'active', false, 'import', %s, now(), now()
            FROM fc_import t
            -- one snapshot for the whole statement: the numbers `matched` found are excluded here
            WHERE NOT EXISTS (SELECT 1 FROM {fan_table} e WHERE e.talent_id = %s AND e.phone = t.phone)
            RETURNING id, status
        ),
        up AS (
            SELECT id, CASE WHEN status = 'pending' THEN 'active' ELSE status END AS status, false AS created,
                status = 'pending' AS joined
            FROM matched
            UNION ALL SELECT id, status, true, true FROM ins
        ),
        {_CONSENT_CTE}{_LIST_CTE if with_list else ""}
        SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created),
            coalesce(array_agg(id) FILTER (WHERE joined), '{{}}') FROM up
    """  # noqa: S608 - table and column names are ours; every value is bound
    return sql, [talent_id, joined_at, talent_id, joined_at, talent_id, joined_at, talent_id]


def _upsert_sql(fan_table: str, text_cols: list[str], talent_id: int, joined_at, with_list: bool):
    """The same in one INSERT ... ON CONFLICT DO UPDATE: safe beside concurrent signups."""
    insert_values = ", ".join(f"coalesce(t.{c}, '')" for c in text_cols)
    # An empty cell (or a column the file does not have) never wipes what the fan already gave.
    update_set = ", ".join(f"{c} = coalesce(nullif(EXCLUDED.{c}, ''), f.{c})" for c in text_cols)
    sql = f"""
        WITH pending AS (
            -- the statement's snapshot: who was pending before it (they join now)
            SELECT f.id FROM {fan_table} f JOIN fc_import t ON f.talent_id = %s AND f.phone = t.phone
            WHERE f.status = 'pending'
        ),
        up AS (
            INSERT INTO {fan_table} AS f (
                talent_id, phone, phone_hash, {", ".join(text_cols)}, birth_date, status,
                shares_with_partners, source, joined_at, created_at, updated_at
            )
            SELECT %s, t.phone, '', {insert_values}, t.birth_date, 'active', false, 'import', %s, now(), now()
            FROM fc_import t
            ON CONFLICT (talent_id, phone) DO UPDATE SET
                {update_set},
                birth_date = coalesce(EXCLUDED.birth_date, f.birth_date),
                status = CASE WHEN f.status = 'pending' THEN 'active' ELSE f.status END,
                joined_at = coalesce(f.joined_at, EXCLUDED.joined_at),
                updated_at = now()
            RETURNING f.id, f.status, (xmax = 0) AS created
        ),
        {_CONSENT_CTE}{_LIST_CTE if with_list else ""}
        SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created),
            coalesce(array_agg(id) FILTER (WHERE created OR id IN (SELECT id FROM pending)), '{{}}') FROM up
    """  # noqa: S608 - table and column names are ours; every value is bound
    return sql, [talent_id, talent_id, joined_at]


_TMP_COLUMNS = ["phone", *PROFILE_FIELDS, "birth_date", "tags"]


def _apply_postgresql(
    batch: ImportBatch, rows: Iterator[CleanRow], joined_at: dt.datetime
) -> tuple[int, int, list[int]]:
    """COPY into a temp table, then one upsert that also writes consent records and list members.
    Returns (created, updated, ids of the fans made active: new ones and completed pending ones)."""
    talent_id = batch.talent_id
    fan_table = Fan._meta.db_table
    with connection.cursor() as cursor:
        # ON COMMIT DROP covers the normal case; inside an outer transaction (a caller's atomic,
        # the test suite) the table must not outlive this batch either.
        cursor.execute("DROP TABLE IF EXISTS fc_import")
        cursor.execute(
            "CREATE TEMP TABLE fc_import (phone text, first_name text, last_name text, email text, city text,"
            " region text, postal_code text, country text, time_zone text, birth_date date, tags text)"
            " ON COMMIT DROP"
        )
        cols = ", ".join(_TMP_COLUMNS)
        with cursor.copy(f"COPY fc_import ({cols}) FROM STDIN") as copy:
            for row in rows:
                v = row.values
                copy.write_row(
                    (
                        row.phone,
                        v.get("first_name"),
                        v.get("last_name"),
                        v.get("email"),
                        v.get("city"),
                        v.get("region"),
                        v.get("postal_code"),
                        v.get("country"),
                        v.get("time_zone"),
                        v.get("birth_date"),
                        ";".join(row.tags) if row.tags else None,
                    )
                )
        text_cols = PROFILE_FIELDS
        consent_params: list[int | str] = [talent_id, _consent_disclosure(batch), batch.evidence]
        list_params = [batch.contact_list_id] if batch.contact_list_id else []
        try:
            # Split form first: plain INSERT for new numbers, join UPDATE for known ones. It skips
            # ON CONFLICT's speculative insertion (an extra WAL record per row), a good share of a
            # million-row import. A fan signing up with one of these numbers meanwhile makes it
            # fail on the unique constraint; the savepoint then falls back to the upsert form.
            with transaction.atomic():
                sql, params = _split_sql(fan_table, text_cols, talent_id, joined_at, batch.contact_list_id is not None)
                cursor.execute(sql, [*params, *consent_params, *list_params])
        except IntegrityError:
            sql, params = _upsert_sql(fan_table, text_cols, talent_id, joined_at, batch.contact_list_id is not None)
            cursor.execute(sql, [*params, *consent_params, *list_params])
        created, updated, joined = cursor.fetchone()
        # Tags: only rows that carry some; split in SQL so the million-row path stays set-based.
        cursor.execute(
            "INSERT INTO messaging_tag (talent_id, name, created_at)"
            " SELECT DISTINCT %s, trim(x.name), now()"
            " FROM fc_import t CROSS JOIN LATERAL unnest(string_to_array(t.tags, ';')) AS x(name)"
            " WHERE t.tags IS NOT NULL AND trim(x.name) <> '' ON CONFLICT (talent_id, name) DO NOTHING",
            [talent_id],
        )
        cursor.execute(
            "INSERT INTO messaging_fantag (tag_id, fan_id, added_at)"
            " SELECT DISTINCT tg.id, f.id, now()"
            " FROM fc_import t CROSS JOIN LATERAL unnest(string_to_array(t.tags, ';')) AS x(name)"
            " JOIN messaging_tag tg ON tg.talent_id = %s AND tg.name = trim(x.name)"
            " JOIN accounts_fan f ON f.talent_id = %s AND f.phone = t.phone"
            " WHERE t.tags IS NOT NULL ON CONFLICT (tag_id, fan_id) DO NOTHING",
            [talent_id, talent_id],
        )
        cursor.execute("DROP TABLE fc_import")
    return created, updated, list(joined)
