"""Shared helpers for the audience benchmarks: Django set-up, JSON figures, a million synthetic fans."""

from __future__ import annotations

import json
import os
import random
import time
from contextlib import contextmanager

import django


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fancommunity.settings")
    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench: set DATABASE_URL to a PostgreSQL database")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def emit(bench: str, figure: str, value: float, unit: str, target: str, ok: bool | None, **extra) -> None:
    row = {"bench": bench, "figure": figure, "value": round(value, 4), "unit": unit, "target": target, "ok": ok}
    row.update(extra)
    print(json.dumps(row), flush=True)


@contextmanager
def timer():
    box = {}
    start = time.perf_counter()
    yield box
    box["s"] = time.perf_counter() - start


COUNTRIES = ["US"] * 8 + ["CA", "GB"]
REGIONS = {"US": ["CA", "NY", "TX", "FL", "WA", "IL"], "CA": ["ON", "QC", "BC"], "GB": ["ENG", "SCT"]}
CITIES = ["Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Clinton", "Fairview", "Salem"]
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "America/Toronto", "Europe/London"]
FIRST = ["Ann", "Ben", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "=cmd", "-neg", "+plus", "@at"]


def phone(i: int) -> str:
    # Valid NANP numbers: area 200-999 without N11, exchange 200-999.
    area = 201 + (i // 8_000_000) % 700
    exchange = 200 + (i // 10_000) % 800
    return f"+1{area}{exchange}{i % 10_000:04d}"


def ensure_fans(slug: str, count: int) -> int:
    """A talent with `count` fans, made with COPY (the lead's generate_fans will replace this)."""
    from django.core.management import get_commands
    from django.db import connection

    from accounts.models import Fan, Talent

    talent, _ = Talent.objects.get_or_create(
        slug=slug,
        defaults={"display_name": slug.title(), "program_name": f"{slug} club", "sender_number": "+15005550999"},
    )
    have = Fan.objects.filter(talent=talent).count()
    if have >= count:
        return talent.pk
    if "generate_fans" in get_commands():
        from django.core.management import call_command

        call_command("generate_fans", "--talent", slug, "--count", str(count - have))
    else:
        rnd = random.Random(42)
        now = "2026-06-01 12:00:00+00"
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY accounts_fan (talent_id, phone, phone_hash, first_name, last_name, email, birth_date, city, region,"
                " postal_code, country, time_zone, status, shares_with_partners, source, joined_at, last_sent_at,"
                " last_reply_at, last_click_at, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for i in range(have, count):
                country = COUNTRIES[i % 10]
                status = "active" if i % 20 else ("opted_out" if i % 40 else "pending")
                days = rnd.randrange(0, 400)
                copy.write_row(
                    (
                        talent.pk,
                        phone(i + 10_000_000),
                        "",
                        FIRST[i % len(FIRST)],
                        f"Fan{i}",
                        f"fan{i}@example.com" if i % 3 else "",
                        f"{1960 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                        CITIES[i % len(CITIES)],
                        REGIONS[country][i % len(REGIONS[country])],
                        f"{(i * 7919) % 100000:05d}",
                        country,
                        ZONES[i % len(ZONES)],
                        status,
                        i % 4 == 0,
                        "web" if i % 2 else "sms",
                        f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00:00+00",
                        None if i % 5 == 0 else f"2026-{1 + days % 12:02d}-{1 + days % 28:02d} 10:00:00+00",
                        None if i % 7 else now,
                        None if i % 11 else now,
                        now,
                        now,
                    )
                )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE accounts_fan")
    return talent.pk
