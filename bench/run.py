"""Run every bench/bench_*.py against the PostgreSQL in DATABASE_URL and write BENCHMARKS.md.

`make bench` starts a throwaway PostgreSQL (durable settings) and runs this. Each benchmark is a
module printing one JSON line per figure (bench/common.py: emit); this runner adds the machine,
the date and a database floor measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{mem_gib:.0f} GiB",
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def database_floor() -> dict:
    """What the database itself does on this machine today: one bare INSERT ... SELECT of 1M rows."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fancommunity.settings")
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("CREATE TEMP TABLE floor_t (id bigint PRIMARY KEY, a int, b text)")
        start = time.perf_counter()
        cursor.execute("INSERT INTO floor_t SELECT g, g % 97, md5(g::text) FROM generate_series(1, 1000000) g")
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        cursor.execute("SELECT count(*) FROM floor_t WHERE a = 3")
        scan_s = time.perf_counter() - start
        cursor.execute("DROP TABLE floor_t")
    return {"postgres": version, "insert_1m_s": round(insert_s, 3), "scan_1m_s": round(scan_s, 4)}


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench: DATABASE_URL must point at PostgreSQL (make bench starts one)", file=sys.stderr)
        return 2
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fancommunity.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",  # the benchmarks talk to their own server over loopback http
        # Benchmarks send only to the local sandbox, never to Twilio: sandbox credentials.
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID", "AC" + "b" * 32),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", "bench-sandbox-token"),
        "SMS_BACKEND": os.environ.get("SMS_BACKEND", "console"),
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    floor = database_floor()
    only = sys.argv[1:]
    modules = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py") if not only or p.stem in only)
    results: list[dict] = []
    failures: list[str] = []
    for module in modules:
        print(f"== {module}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{module}"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                results.append(json.loads(line))
                print("  ", line, flush=True)
            elif line.strip():
                print("   |", line, flush=True)  # a benchmark's own progress notes
        if proc.returncode != 0:
            failures.append(module)
            print(proc.stderr[-3000:], file=sys.stderr)
    write_report(results, floor, failures)
    return 1 if failures else 0


def _row(r: dict) -> str:
    notes = ", ".join(f"{k}={v}" for k, v in r.items() if k not in {"bench", "figure", "value", "unit", "target", "ok"})
    met = {True: "yes", False: "**no**", None: "-"}[r.get("ok")]
    return f"| {r['bench']} | {r['figure']} | {r['value']} {r['unit']} | {r.get('target', '')} | {met} | {notes} |"


def _existing(path: Path) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """Rows of the current BENCHMARKS.md by (bench, figure), and each benchmark's run line."""
    rows: dict[tuple[str, str], str] = {}
    runs: dict[str, str] = {}
    if not path.exists():
        return rows, runs
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 6 and cells[0] not in ("benchmark", "---"):
            rows[(cells[0], cells[1])] = line
        elif line.startswith("- `") and "`: " in line:
            runs[line[3 : line.index("`: ")]] = line
    return rows, runs


def write_report(results: list[dict], floor: dict, failures: list[str], ran: list[str] | None = None) -> None:
    """Merge this run's rows into BENCHMARKS.md by (bench, figure): a partial run (`make bench
    ONLY=name`) replaces its own rows and keeps every other benchmark's last figures."""
    info = machine()
    path = ROOT / "BENCHMARKS.md"
    rows, runs = _existing(path)
    now = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    run_line = (
        f"{now}; {info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}, "
        f"PostgreSQL {floor['postgres']}; database floor: bare `INSERT ... SELECT` of 1,000,000 rows "
        f"{floor['insert_1m_s']} s, sequential scan {floor['scan_1m_s']} s"
    )
    fresh: dict[tuple[str, str], str] = {}
    for r in results:
        fresh[(r["bench"], str(r["figure"]))] = _row(r)
    benches_now = {b for b, _ in fresh}
    # A benchmark that ran replaces all its rows (a figure it no longer reports disappears).
    merged = {k: v for k, v in rows.items() if k[0] not in benches_now}
    merged.update(fresh)
    for bench in benches_now:
        runs[bench] = f"- `{bench}`: {run_line}"
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py) on a throwaway PostgreSQL with default durability;",
        "`make bench ONLY=name` reruns one benchmark and merges its rows by (benchmark, figure).",
        "Each figure is compared with a floor measured in the same run on the same machine.",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; {info['os']}",
        "- Last run of each benchmark (date; machine; the database floor of that run):",
        *sorted(runs.values()),
        "",
        "| benchmark | figure | value | target | met | notes |",
        "|---|---|---|---|---|---|",
        *[merged[k] for k in sorted(merged, key=lambda k: k[0])],
    ]
    if failures:
        lines += ["", f"Benchmarks that crashed in the last run: {', '.join(failures)}"]
    path.write_text("\n".join(lines) + "\n")
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    sys.exit(main())
