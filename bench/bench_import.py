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

from bench._audience import FIRST, ZONES, emit, phone, setup, timer

BENCH = "import"


def write_csv(path: str, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("phone,first_name,last_name,email,birth_date,city,region,postal_code,country,time_zone\n")
        for i in range(rows):
            fh.write(
                f"{phone(i + 50_000_000)},{FIRST[i % 10]},Import{i},imp{i}@example.com,"
                f"{1970 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d},Springfield,CA,{i % 100000:05d},US,"
                f"{ZONES[i % 3]}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    setup()
    from django.core.files import File
    from django.db import connection

    from accounts.models import Fan, Talent
    from messaging.audience import import_batch_create, import_batch_run

    talent, _ = Talent.objects.get_or_create(
        slug="bench-import",
        defaults={"display_name": "Bench Import", "program_name": "x", "sender_number": "+15005550998"},
    )
    # Start from no fans so every run measures the same work (inserts, then an update run).
    Fan.objects.filter(talent=talent).delete()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fans.csv")
        write_csv(path, args.rows)
        size = os.path.getsize(path)

        with timer() as floor, connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_floor (line text)")
            with open(path, "rb") as fh, cursor.cursor.copy("COPY bench_floor FROM STDIN") as copy:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            cursor.execute("DROP TABLE bench_floor")
        emit(BENCH, "floor_copy_raw_lines", floor["s"], "s", "reference", None, rows=args.rows, bytes=size)

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
            with timer() as t:
                batch = import_batch_run(batch=batch)
            assert batch.status == "completed", batch.failure
            assert batch.error_count == 0, batch.error_report[:500]
            emit(
                BENCH,
                f"import_{args.rows}_rows_{label}",
                t["s"],
                "s",
                "< 60 s for 1,000,000 rows",
                t["s"] < 60 * args.rows / 1_000_000,
                created=batch.created_count,
                updated=batch.updated_count,
                rows_per_s=round(args.rows / t["s"]),
                floor_ratio=round(t["s"] / floor["s"], 1),
            )
            batch.file.delete(save=False)


if __name__ == "__main__":
    main()
