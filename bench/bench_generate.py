"""generate_fans: 1,000,000 synthetic fans in under a minute on PostgreSQL (COPY + INSERT ... SELECT).

Floor: COPY of the same number of rows into an unindexed temp table (what the network and the
server's parser cost at least).
"""

from __future__ import annotations

import os

from bench.common import emit, ensure_talent, setup_django, timed

COUNT = int(os.environ.get("BENCH_FANS", "1000000"))


def main() -> None:
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Fan

    talent = ensure_talent("bench-generate")
    Fan.objects.filter(talent=talent).delete()
    with timed() as elapsed:
        call_command("generate_fans", talent=talent.slug, count=COUNT)
    seconds = elapsed()
    with timed() as floor, connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copy_floor (n bigint, phone text, name text)")
        with cursor.copy("COPY copy_floor FROM STDIN") as copy:
            for i in range(COUNT):
                copy.write_row((i, f"+1212{i:07d}", "Olivia Smith"))
        cursor.execute("DROP TABLE copy_floor")
    emit(
        "generate_fans",
        f"{COUNT:,} fans",
        seconds,
        "s",
        target="< 60 s",
        ok=seconds < 60,
        floor_s=round(floor(), 3),
        floor="COPY of 3 columns into an unindexed temp table",
    )
    Fan.objects.filter(talent=talent).delete()


if __name__ == "__main__":
    main()
