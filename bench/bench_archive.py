"""Archiving BENCH_ARCHIVE_ROWS message rows (default 10,000,000) on PostgreSQL: time and space (issue 17 §5).

Data (set-based SQL, seconds a million rows): BENCH_ARCHIVE_TALENTS talents (default 10) over
12 months that ended more than MESSAGE_ARCHIVE_AFTER_DAYS ago, every row already wiped by the
retention policy (no words, no numbers) and settled. Four fifths are sent texts, in one
completed campaign per talent and month (contiguous ids, as a blast materialises them; one in
ten a one-to-one text with no campaign; a click on one in a thousand), one fifth received texts,
the talents interleaved in id order as texts arrive. Then 5 % as many recent rows of each table,
not archivable, with the highest ids: what a live table holds past the archive window, and what
stops VACUUM from simply cutting the emptied end of the files off.

The run is the real path: `archive_messages` (the command's and the daily task's service), to a
local folder, reports stored first. Figures: rows/s and wall time; the gzipped archive bytes
against the tables' bytes before; each table's heap (pg_relation_size) and heap + indexes + TOAST
(pg_total_relation_size) before, after the archive, after VACUUM and after VACUUM FULL, with the
free space VACUUM recorded in the free space map (pg_freespacemap): reusable by new rows in the
same files, not given back to the operating system, which only VACUUM FULL (or pg_repack) does;
the process's peak memory (ru_maxrss) before and after the run; a check that every row is in
exactly one file (the lines of every file, their ids, and the ArchiveFile totals). Floor, in the
same run, on the same rows before the archive: a bare `COPY (SELECT row_to_json(...)) TO STDOUT`
of them through gzip at the archive's level (what reading and compressing them costs, no lock,
no delete, no file).

    DATABASE_URL=postgres://... python -m bench.bench_archive      (make bench ONLY=bench_archive)
"""

from __future__ import annotations

import gzip
import os
import resource
import shutil
import tempfile
import zlib
from pathlib import Path

from bench.common import emit, ensure_talent, setup_django, timed

BENCH = "archive"
ROWS = int(os.environ.get("BENCH_ARCHIVE_ROWS", "10000000"))
TALENTS = int(os.environ.get("BENCH_ARCHIVE_TALENTS", "10"))
MONTHS = 12
KEEP = 0.05  # recent rows per table, as a share of the archived ones
TABLES = {"outbound": "messaging_outboundmessage", "inbound": "messaging_inboundmessage"}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(rows: int) -> dict[str, int]:
    """Archivable rows of both tables (and recent ones that stay); returns the archivable counts."""
    from django.db import connection
    from django.utils import timezone

    from messaging.models import Campaign, TrackedLink

    talents = [ensure_talent(f"bench-archive-{i}") for i in range(TALENTS)]
    out_n, in_n = rows * 4 // 5, rows - rows * 4 // 5
    blocks = TALENTS * MONTHS
    per_block = -(-out_n // blocks)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('month', now() - make_interval(days => %s)) - interval '13 months'",
            [int(os.environ.get("MESSAGE_ARCHIVE_AFTER_DAYS", "400"))],
        )
        base = cursor.fetchone()[0]
    campaigns = []
    for m in range(MONTHS):
        for t in talents:
            start = base.replace(day=2) + _months(m)
            campaigns.append(
                Campaign(
                    talent=t,
                    name=f"Blast {m}",
                    body="New tour dates!",
                    status=Campaign.Status.COMPLETED,
                    started_at=start,
                    finished_at=start + timezone.timedelta(hours=2),
                )
            )
    campaigns = Campaign.objects.bulk_create(campaigns)
    links = TrackedLink.objects.bulk_create(
        [TrackedLink(campaign=c, url="https://example.com/tour") for c in campaigns]
    )
    with connection.cursor() as cursor:
        params = {
            "t": [t.pk for t in talents],
            "c": [c.pk for c in campaigns],
            "l": [link.pk for link in links],
            "nt": TALENTS,
            "per": per_block,
            "n": out_n,
            "base": base,
            "in_n": in_n,
            "span": MONTHS * 30 * 86400.0,
        }
        # Block b = month * talents + talent: one campaign's rows together, in time order.
        cursor.execute(
            """
            INSERT INTO messaging_outboundmessage (talent_id, fan_id, campaign_id, kind, to_number, body, media_url,
              status, provider_sid, error_code, error_message, segments, attempts, lane, not_before, created_at,
              sent_at, updated_at)
            SELECT (%(t)s::bigint[])[1 + (b %% %(nt)s)::int], NULL,
              CASE WHEN g %% 10 = 9 THEN NULL ELSE (%(c)s::bigint[])[1 + b] END,
              CASE WHEN g %% 10 = 9 THEN 'reply' ELSE 'campaign' END, '', '', '',
              CASE WHEN g %% 37 = 0 THEN 'failed' ELSE 'delivered' END, 'SMa' || lpad(g::text, 31, '0'),
              CASE WHEN g %% 37 = 0 THEN '30003' ELSE '' END, '', 1 + (g %% 3 = 0)::int, 1, 1, at, at, at,
              at + interval '5 seconds'
            FROM (SELECT g, g / %(per)s AS b,
                    %(base)s::timestamptz + make_interval(months => (g / %(per)s / %(nt)s)::int)
                    + interval '1 day' + (g %% %(per)s) * interval '1 second' AS at
                  FROM generate_series(0, %(n)s - 1) g) s
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO messaging_inboundmessage (talent_id, fan_id, message_sid, from_number, to_number, body, payload,
              received_at, processed_at, action, needs_reply)
            SELECT (%(t)s::bigint[])[1 + (g %% %(nt)s)::int], NULL, 'SMi' || lpad(g::text, 31, '0'), '', '+15550000000',
              '', '{}', at, at, 'inbox', false
            FROM (SELECT g, %(base)s::timestamptz + (g * %(span)s / %(in_n)s) * interval '1 second' AS at
                  FROM generate_series(0, %(in_n)s - 1) g) s
            """,
            params,
        )
        cursor.execute(
            "INSERT INTO messaging_click (link_id, message_id, fan_id, clicked_at) "
            "SELECT (%(l)s::bigint[])[1 + (array_position(%(c)s::bigint[], campaign_id) - 1)], id, NULL, created_at "
            "FROM messaging_outboundmessage WHERE campaign_id = ANY(%(c)s::bigint[]) AND id %% 1000 = 0",
            params,
        )
        keep_out, keep_in = max(1, int(out_n * KEEP)), max(1, int(in_n * KEEP))
        cursor.execute(
            "INSERT INTO messaging_outboundmessage (talent_id, kind, to_number, body, media_url, status, error_code, "
            "error_message, segments, attempts, lane, created_at, updated_at) "
            "SELECT %s, 'reply', '+15550001111', 'see you soon', '', 'delivered', '', '', 1, 1, 1, "
            "now() - g * interval '1 second', now() FROM generate_series(1, %s) g",
            [talents[0].pk, keep_out],
        )
        cursor.execute(
            "INSERT INTO messaging_inboundmessage (talent_id, message_sid, from_number, to_number, body, payload, "
            "received_at, processed_at, action, needs_reply) "
            "SELECT %s, 'SMk' || lpad(g::text, 31, '0'), '+15550001111', '+15550000000', 'hello', '{}', "
            "now() - g * interval '1 second', now(), 'inbox', false FROM generate_series(1, %s) g",
            [talents[0].pk, keep_in],
        )
    # A table in service has been vacuumed (hint bits, visibility map): the archive starts from that.
    with connection.cursor() as cursor:
        for table in (*TABLES.values(), "messaging_click"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"outbound": out_n, "inbound": in_n}


def _months(n: int):
    from dateutil.relativedelta import relativedelta

    return relativedelta(months=n)


def sizes() -> dict[str, tuple[int, int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        out = {}
        for name, table in TABLES.items():
            cursor.execute("SELECT pg_relation_size(%s::regclass), pg_total_relation_size(%s::regclass)", [table] * 2)
            out[name] = cursor.fetchone()
        return out


def free_space() -> dict[str, int] | None:
    """Bytes the free space map records per table (what VACUUM made reusable), or None without the extension."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_freespacemap")
            out = {}
            for name, table in TABLES.items():
                cursor.execute("SELECT coalesce(sum(avail), 0) FROM pg_freespace(%s::regclass)", [table])
                out[name] = int(cursor.fetchone()[0])
            return out
    except Exception:  # noqa: BLE001 - the contrib module is optional; the figure says so
        return None


def floor(cutoff) -> tuple[float, int, int]:
    """(seconds, gzipped bytes, rows): the archivable rows as JSON through COPY, gzipped at the archive's level."""
    from django.db import connection

    from messaging.sending.archive import GZIP_LEVEL
    from messaging.sms.models import InboundMessage, OutboundMessage

    quote = connection.ops.quote_name
    total_bytes = total_rows = 0
    with timed() as elapsed, connection.cursor() as cursor:
        for model, date_column in ((OutboundMessage, "created_at"), (InboundMessage, "received_at")):
            cols = ", ".join(f"{quote(f.column)} AS {quote(f.attname)}" for f in model._meta.concrete_fields)
            where = cursor.cursor.mogrify(f"{date_column} < %s", [cutoff])  # every seeded old row goes
            sql = (
                f"COPY (SELECT row_to_json(r) FROM (SELECT {cols} FROM {model._meta.db_table} "  # noqa: S608
                f"WHERE {where} ORDER BY id) r) TO STDOUT"
            )
            packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
            with cursor.cursor.copy(sql) as copy:
                for data in copy:
                    total_bytes += len(packer.compress(bytes(data)))
                    total_rows += bytes(data).count(b"\n")
            total_bytes += len(packer.flush())
    return elapsed(), total_bytes, total_rows


def delete_floor(cutoff) -> float:
    """Seconds for a bare DELETE of the same rows, rolled back: the database's own cost of removing
    them, with the per-row foreign-key checks (a click's message, a media row's or vote's text)
    run at once (SET CONSTRAINTS ALL IMMEDIATE) instead of at a commit that never comes."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "UPDATE messaging_click SET message_id = NULL WHERE message_id IN "
            "(SELECT id FROM messaging_outboundmessage WHERE created_at < %s)",
            [cutoff],
        )
        with timed() as elapsed:
            cursor.execute("DELETE FROM messaging_outboundmessage WHERE created_at < %s", [cutoff])
            cursor.execute("DELETE FROM messaging_inboundmessage WHERE received_at < %s", [cutoff])
        transaction.set_rollback(True)
    with connection.cursor() as cursor:  # the rolled-back deletes' marks cleaned, as before
        for table in TABLES.values():
            cursor.execute(f"VACUUM ANALYZE {table}")
    return elapsed()


def check_files(root: Path, expected: int) -> tuple[int, int, bool]:
    """(lines in every file, distinct ids, every id once): reads back what the run wrote."""
    seen: dict[str, bytearray] = {}
    lines = dupes = 0
    for path in sorted(root.rglob("*.jsonl.gz")):
        table = path.relative_to(root).parts[0]
        bitmap = seen.setdefault(table, bytearray())
        with gzip.open(path, "rb") as rows:
            for line in rows:
                lines += 1
                row_id = int(line[6 : line.index(b",")])  # every line starts {"id":N,
                if row_id >= len(bitmap):
                    bitmap.extend(bytes(row_id + 1 - len(bitmap) + 1_000_000))
                dupes += bitmap[row_id]
                bitmap[row_id] = 1
    distinct = sum(b.count(1) for b in seen.values())
    return lines, distinct, dupes == 0 and distinct == lines == expected


def main() -> None:
    setup_django()
    from django.db import connection
    from django.db.models import Sum
    from django.utils import timezone

    from messaging.sending.archive import LocalStore, archive_messages, archive_window
    from messaging.sending.models import ArchiveFile

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM messaging_outboundmessage")
        if cursor.fetchone()[0]:
            raise SystemExit("bench_archive needs empty message tables (a fresh `make bench` database)")
    with timed() as seeding:
        expected = seed(ROWS)
    print(f"seeded {sum(expected.values()):,} archivable rows in {seeding():.1f} s", flush=True)
    now = timezone.now()
    before = sizes()
    floor_s, floor_bytes, floor_rows = floor(now - archive_window())
    assert floor_rows == sum(expected.values()), (floor_rows, expected)
    delete_s = delete_floor(now - archive_window())
    rss_before = _rss_mib()
    root = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    try:
        with timed() as elapsed:
            report = archive_messages(now=now, store=LocalStore(root))
        wall = elapsed()
        rss_after = _rss_mib()
        archived = sum(report.rows.values())
        emit(
            BENCH,
            "archive rows/s",
            archived / wall,
            "rows/s",
            rows=archived,
            files=len(report.files),
            wall_s=round(wall, 1),
            reports_stored=report.reports_stored,
            talents=TALENTS,
            months=MONTHS,
        )
        emit(
            BENCH,
            "floor: COPY row_to_json through gzip (rows/s)",
            floor_rows / floor_s,
            "rows/s",
            wall_s=round(floor_s, 1),
            gz_bytes=floor_bytes,
            archive_vs_floor=round(wall / floor_s, 2),
        )
        emit(
            BENCH,
            "floor: bare DELETE of the same rows, key checks included (rows/s)",
            floor_rows / delete_s,
            "rows/s",
            wall_s=round(delete_s, 1),
            archive_vs_copy_plus_delete=round(wall / (floor_s + delete_s), 2),
        )
        table_before = sum(total for _, total in before.values())
        emit(
            BENCH,
            "archive bytes (gzipped JSONL)",
            report.bytes_written / 2**20,
            "MiB",
            bytes_per_row=round(report.bytes_written / max(archived, 1), 1),
            tables_total_before_mib=round(table_before / 2**20, 1),
            share_of_tables=round(report.bytes_written / table_before, 3),
        )
        emit(
            BENCH,
            "peak memory (ru_maxrss)",
            rss_after,
            "MiB",
            before_run_mib=round(rss_before, 1),
            growth_mib=round(rss_after - rss_before, 1),
        )
        lines, distinct, once = check_files(root, archived)
        recorded = ArchiveFile.objects.aggregate(rows=Sum("rows"), bytes=Sum("bytes"))
        on_disk = sum(p.stat().st_size for p in root.rglob("*.jsonl.gz"))
        ok = once and recorded["rows"] == archived == sum(expected.values()) and recorded["bytes"] == on_disk
        emit(
            BENCH,
            "every row in exactly one file",
            lines,
            "rows",
            ok=ok,
            distinct_ids=distinct,
            seeded=sum(expected.values()),
            recorded_rows=recorded["rows"],
            recorded_bytes=recorded["bytes"],
            bytes_on_disk=on_disk,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    after = sizes()
    with timed() as vacuuming, connection.cursor() as cursor:
        for table in TABLES.values():
            cursor.execute(f"VACUUM {table}")
    vacuumed, fsm = sizes(), free_space()
    with timed() as full, connection.cursor() as cursor:
        for table in TABLES.values():
            cursor.execute(f"VACUUM FULL {table}")
    compacted = sizes()
    for name in TABLES:
        mib = {
            k: round(v[name][0] / 2**20, 1)
            for k, v in (("before", before), ("after", after), ("vacuum", vacuumed), ("full", compacted))
        }
        total = {
            k: round(v[name][1] / 2**20, 1)
            for k, v in (("before", before), ("after", after), ("vacuum", vacuumed), ("full", compacted))
        }
        emit(
            BENCH,
            f"{name}: heap after archive + VACUUM (pg_relation_size)",
            mib["vacuum"],
            "MiB",
            before=mib["before"],
            after_archive=mib["after"],
            after_vacuum_full=mib["full"],
            free_space_map_mib=round(fsm[name] / 2**20, 1) if fsm else "n/a",
        )
        emit(
            BENCH,
            f"{name}: heap + indexes after archive + VACUUM (pg_total_relation_size)",
            total["vacuum"],
            "MiB",
            before=total["before"],
            after_archive=total["after"],
            after_vacuum_full=total["full"],
            returned_to_os_by_vacuum_mib=round(total["before"] - total["vacuum"], 1),
            returned_to_os_by_vacuum_full_mib=round(total["before"] - total["full"], 1),
        )
    emit(BENCH, "VACUUM of both tables after the archive", vacuuming(), "s", vacuum_full_s=round(full(), 1))
    emit(
        BENCH,
        "reusable bytes the command reports (bytes per row x rows)",
        (report.reusable_bytes or 0) / 2**20,
        "MiB",
        freed_by_vacuum_full_mib=round(sum(before[n][1] - compacted[n][1] for n in TABLES) / 2**20, 1),
    )


if __name__ == "__main__":
    main()
