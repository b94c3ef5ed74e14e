"""Helpers shared by the benchmarks: Django set-up, timing, one JSON line per figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fancommunity.settings")
    os.environ.setdefault("SMS_BACKEND", "console")
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("benchmarks run on PostgreSQL: run `make bench` (or set DATABASE_URL)")


def emit(
    bench: str, figure: str, value: float, unit: str, *, target: str = "", ok: bool | None = None, **extra
) -> None:
    """One figure, as one JSON line on stdout (collected by bench/run.py)."""
    line = {"bench": bench, "figure": figure, "value": round(value, 4), "unit": unit, "target": target, "ok": ok}
    line.update(extra)
    print(json.dumps(line), flush=True)


@contextmanager
def timed():
    """with timed() as t: ...; t() is the elapsed seconds."""
    start = time.perf_counter()
    elapsed = [0.0]
    yield lambda: elapsed[0] if elapsed[0] else time.perf_counter() - start
    elapsed[0] = time.perf_counter() - start


def best_of(fn, n=3) -> tuple[float, object]:
    """(the fastest of n runs in seconds, the last run's result)."""
    best, result = float("inf"), None
    for _ in range(n):
        with timed() as elapsed:
            result = fn()
        best = min(best, elapsed())
    return best, result


def copy_fans_bytes(talent_id: int, columns: list[str]) -> int:
    """The export floor: bytes of a talent's fans, these columns, through COPY ... TO STDOUT (CSV)."""
    from django.db import connection

    cols = ", ".join(columns)
    sql = f"COPY (SELECT {cols} FROM accounts_fan WHERE talent_id = {int(talent_id)} ORDER BY id) TO STDOUT WITH (FORMAT csv)"
    n = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for data in copy:
            n += len(data)
    return n


def ensure_talent(slug: str = "bench", **fields):
    import zlib

    from accounts.models import Talent

    talent, _ = Talent.objects.get_or_create(
        slug=slug,
        defaults={
            "display_name": slug.title(),
            "program_name": f"{slug.title()} Club",
            # Sender numbers are unique per talent: one derived from the slug.
            "sender_number": f"+1555{zlib.crc32(slug.encode()) % 10**7:07d}",
            "parts_per_second": 10000,
            **fields,
        },
    )
    return talent


def ensure_fans(slug: str, count: int) -> None:
    """Top the talent up to `count` synthetic fans (generate_fans: COPY on PostgreSQL)."""
    import subprocess
    from pathlib import Path

    from accounts.models import Fan

    talent = ensure_talent(slug)
    have = Fan.objects.filter(talent=talent).count()
    if have < count:
        # In a child process, so the benchmark's own peak memory is not the generator's.
        root = Path(__file__).resolve().parent.parent
        subprocess.run(
            [sys.executable, "manage.py", "generate_fans", "--talent", slug, "--count", str(count - have)],
            cwd=root,
            check=True,
        )


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """Ask a helper process (a sandbox, a Redis) to stop; kill it if it has not within `grace` s."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
