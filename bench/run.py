"""Run every bench/bench_*.py against the PostgreSQL in DATABASE_URL and write BENCHMARKS.md.

`make bench` starts a throwaway PostgreSQL (durable settings) and runs this. Each benchmark is a
module printing one JSON line per figure (bench/common.py: emit); this runner adds the machine,
the date and a database floor measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The seeded database the audience benchmarks read (1M fans of "bench-audience"), built once per
# PostgreSQL server as a template database and copied for each run (CREATE DATABASE ... TEMPLATE
# copies files: seconds, instead of generating a million fans again).
SEED_FANS = int(os.environ.get("BENCH_FANS", "1000000"))
SEED_TALENT = "bench-audience"
SEED_USERS = {"bench_export", "bench_segments"}  # the benchmarks that read it
# What the seeded database is made of: a change to any of these builds a new template.
SEED_CODE = (
    "accounts/migrations",
    "consent/migrations",
    "messaging/migrations",
    "accounts/synthetic.py",
    "accounts/management/commands/generate_fans.py",
    "bench/common.py",
)
TEMPLATE_PREFIX = "bench_seed_"


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


def seed_key() -> str:
    """A hash of the migrations, the seed code and the seed size: the template's name."""
    digest = hashlib.sha256(f"{SEED_TALENT}:{SEED_FANS}".encode())
    for entry in SEED_CODE:
        path = ROOT / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def from_template(url: str, env: dict) -> None:
    """Make DATABASE_URL's database a fresh copy of the seeded template of this server, building
    the template first (migrate + seed) when the server has none for the current seed_key().

    Reused by every later run on the same server: several runs inside one `tests.pgtemp`, or a
    long-lived server (DATABASE_URL of your own); a server started afresh builds it once."""
    import psycopg
    from psycopg import sql

    target = url.rsplit("/", 1)[1].split("?", 1)[0]
    template = TEMPLATE_PREFIX + seed_key()
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:

        def recreate(name: str, source: str) -> None:
            # CREATE DATABASE ... TEMPLATE needs the source without sessions; ours are closed.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [source],
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            # FILE_COPY (PostgreSQL 15+) copies the files after a checkpoint; the default writes the
            # whole database through the WAL, much slower for a million fans.
            strategy = " STRATEGY = FILE_COPY" if admin.info.server_version >= 150000 else ""
            create = sql.SQL("CREATE DATABASE {} TEMPLATE {}" + strategy)  # noqa: S608 - a constant
            admin.execute(create.format(sql.Identifier(name), sql.Identifier(source)))

        known = {
            row[0]
            for row in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [TEMPLATE_PREFIX + "%"])
        }
        if template in known:
            print(f"== seeded database: copy of {template}", flush=True)
            recreate(target, template)
            return
        print(f"== seeded database: building {template} ({SEED_FANS:,} fans of {SEED_TALENT})", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        seed = f"from bench.common import ensure_fans, setup_django; setup_django(); ensure_fans({SEED_TALENT!r}, {SEED_FANS})"
        subprocess.run([sys.executable, "-c", seed], cwd=ROOT, env=env, check=True)
        with psycopg.connect(url, autocommit=True) as seeded:
            seeded.execute("VACUUM ANALYZE")  # copies inherit the statistics and the visibility map
        recreate(template, target)
        for stale in known:  # templates of older migrations or seed code
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(stale)))


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
    only = sys.argv[1:]
    modules = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py") if not only or p.stem in only)
    if SEED_USERS & set(modules) or os.environ.get("BENCH_TEMPLATE") == "1":
        from_template(url, env)
    else:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    floor = database_floor()
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
        "The audience benchmarks (export, segments) read a seeded database (migrations + 1,000,000",
        "fans of `bench-audience`) that bench/run.py builds once per PostgreSQL server as the template",
        "database `bench_seed_<hash>` and copies for each run (`CREATE DATABASE ... TEMPLATE`); the hash",
        "covers the migrations, the fan generator, bench/common.py and BENCH_FANS, so a change to any",
        "of them builds a new template (and drops the old). Reused by later runs on the same server:",
        "several runs in one `tests.pgtemp`, or your own long-lived server in DATABASE_URL.",
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
