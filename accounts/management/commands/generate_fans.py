"""manage.py generate_fans --talent SLUG --count N: synthetic fans for demos and benchmarks.

PostgreSQL: rows stream through COPY into a temporary table, then one INSERT ... SELECT ... ON
CONFLICT DO NOTHING (COPY itself cannot skip duplicates). SQLite: batched bulk_create.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import FAN_RECORD_FIELDS, Fan, Talent
from accounts.profile import PROFILE_FIELDS
from accounts.synthetic import SyntheticFan, generate

COLUMNS = ["talent_id", "phone", "phone_hash", *PROFILE_FIELDS, *FAN_RECORD_FIELDS]


class Command(BaseCommand):
    help = "Create N synthetic fans for a talent (demo data and benchmarks; numbers are generated, not real)."

    def add_arguments(self, parser):
        parser.add_argument("--talent", required=True, help="talent slug")
        parser.add_argument("--count", required=True, type=int)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, talent: str, count: int, seed: int, **options):
        if count < 1 or count > 20_000_000:
            raise CommandError("--count must be between 1 and 20,000,000")
        try:
            talent_obj = Talent.objects.get(slug=talent)
        except Talent.DoesNotExist:
            raise CommandError(f"no talent with slug {talent!r}") from None
        # Continue numbering after this talent's existing synthetic fans so reruns add new people.
        start = Fan.objects.filter(talent=talent_obj, source=Fan.Source.DEMO).count()
        began = time.monotonic()
        rows = generate(count, start=start, seed=seed)
        if connection.vendor == "postgresql":
            created = _copy_postgres(talent_obj.pk, rows)
        else:
            created = _bulk_create(talent_obj, rows)
        elapsed = time.monotonic() - began
        self.stdout.write(f"created {created:,} synthetic fans for {talent_obj.slug} in {elapsed:.1f}s")


def _values(talent_id: int, fan: SyntheticFan, now) -> tuple:
    return (
        talent_id,
        fan.phone,
        "",
        fan.first_name,
        fan.last_name,
        fan.email,
        fan.birth_date,
        fan.city,
        fan.region,
        fan.postal_code,
        fan.country,
        fan.time_zone,
        fan.status,
        fan.shares_with_partners,
        Fan.Source.DEMO,
        fan.joined_at,
        fan.opted_out_at,
        fan.last_sent_at,
        fan.last_reply_at,
        fan.last_click_at,
        now,
        now,
    )


def _copy_postgres(talent_id: int, rows) -> int:
    now = timezone.now()
    table = Fan._meta.db_table
    cols = ", ".join(COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE fan_import ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY fan_import ({cols}) FROM STDIN") as copy:
            for fan in rows:
                copy.write_row(_values(talent_id, fan, now))
        cursor.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM fan_import ON CONFLICT (talent_id, phone) DO NOTHING"
        )
        created = cursor.rowcount
        # ON COMMIT DROP is not enough inside an outer transaction (a test, a caller's atomic block).
        cursor.execute("DROP TABLE fan_import")
        return created


def _bulk_create(talent: Talent, rows, batch: int = 5000) -> int:
    now = timezone.now()
    created = 0
    buffer: list[Fan] = []

    def flush() -> int:
        before = Fan.objects.filter(talent=talent).count()
        Fan.objects.bulk_create(buffer, ignore_conflicts=True)
        buffer.clear()
        return Fan.objects.filter(talent=talent).count() - before

    for fan in rows:
        values = dict(zip(COLUMNS, _values(talent.pk, fan, now), strict=True))
        values.pop("talent_id")
        buffer.append(Fan(talent=talent, **values))
        if len(buffer) >= batch:
            created += flush()
    if buffer:
        created += flush()
    return created
