"""Import 1,000,000 CSV rows through import_batch_run() on PostgreSQL; target under 60 s.

Floor, measured in the same run: COPY of the same file's rows into an unindexed temp table (the
cheapest way to get those bytes into PostgreSQL at all).

    DATABASE_URL=postgres://... python -m bench.bench_import [--rows N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile

from bench.common import emit, ensure_talent, setup_django, timed

BENCH = "import"
ROWS = int(os.environ.get("BENCH_FANS", "1000000"))
FIRST = ["Ann", "Ben", "Cy", "Dee", "=cmd", "-neg", "+plus", "@at", "Eli", "Fay"]
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles"]


def phone(i: int) -> str:
    # Valid North American numbers (area and exchange codes 200-999), distinct for i < 560,000,000.
    return f"+1{201 + (i // 8_000_000) % 700}{200 + (i // 10_000) % 800}{i % 10_000:04d}"


def write_csv(path: str, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("phone,first_name,last_name,email,birth_date,city,region,postal_code,country,time_zone\n")
        for i in range(rows):
            fh.write(
                f"{phone(i + 50_000_000)},{FIRST[i % 10]},Import{i},imp{i}@example.com,"
                f"{1970 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d},Springfield,CA,{i % 100000:05d},US,"
                f"{ZONES[i % 3]}\n"
            )


def wipe(talent_id: int) -> None:
    """Delete the bench talent's fans in SQL (the ORM's cascade would load a million objects)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("consent_consentrecord", "messaging_contactlistmember", "messaging_fantag"):
            cursor.execute(
                f"DELETE FROM {table} WHERE fan_id IN (SELECT id FROM accounts_fan WHERE talent_id = %s)", [talent_id]
            )
        cursor.execute("DELETE FROM accounts_fan WHERE talent_id = %s", [talent_id])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    setup_django()
    from django.core.files import File
    from django.db import connection

    from messaging.audience.imports import import_batch_create, import_batch_run

    talent = ensure_talent("bench-import")
    # Start from no fans so every run measures the same work (inserts, then an update run).
    wipe(talent.pk)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fans.csv")
        write_csv(path, args.rows)
        size = os.path.getsize(path)

        with timed() as floor, connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_floor (line text)")
            with open(path, "rb") as fh, cursor.cursor.copy("COPY bench_floor FROM STDIN") as copy:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            cursor.execute("DROP TABLE bench_floor")
        floor_s = floor()
        emit(BENCH, "floor_copy_raw_lines", floor_s, "s", target="reference", rows=args.rows, bytes=size)

        for label in ("insert", "update"):
            with open(path, "rb") as fh:
                batch = import_batch_create(
                    talent=talent,
                    file=File(fh, name="fans.csv"),
                    original_name="fans.csv",
                    consent_source="bench",
                    consent_date=dt.date(2026, 1, 1),
                    default_region="US",
                )
            with timed() as elapsed:
                batch = import_batch_run(batch=batch)
            seconds = elapsed()
            assert batch.status == "completed", batch.failure
            assert batch.error_count == 0, batch.error_report[:500]
            emit(
                BENCH,
                f"import_{args.rows}_rows_{label}",
                seconds,
                "s",
                target="< 60 s for 1,000,000 rows",
                ok=seconds < 60 * args.rows / 1_000_000,
                created=batch.created_count,
                updated=batch.updated_count,
                rows_per_s=round(args.rows / seconds),
                floor_s=round(floor_s, 3),
            )
            batch.file.delete(save=False)
    wipe(talent.pk)


if __name__ == "__main__":
    main()
