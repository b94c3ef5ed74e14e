"""Database backups: pg_dump in custom format, kept by a daily/weekly/monthly retention (issue 17).

`manage.py db_backup` writes `fancommunity-YYYYmmddTHHMMSSZ.dump` into BACKUP_DIR (first as
`.partial`, renamed when pg_dump succeeded, so a crash never leaves a dump that looks whole),
then deletes dumps no rule keeps. `manage.py db_restore FILE --yes` restores one with
pg_restore (--clean --if-exists --single-transaction: all or nothing).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connections

NAME = re.compile(r"^fancommunity-(\d{8}T\d{6}Z)\.dump$")


class BackupError(Exception):
    pass


def _tool(name: str) -> str:
    for candidate in (os.environ.get("PG_BIN"), "/usr/lib/postgresql/15/bin", None):
        path = shutil.which(name, path=candidate) if candidate else shutil.which(name)
        if path:
            return path
    raise BackupError(f"{name} not found: install the PostgreSQL client (postgresql-client-15) or set PG_BIN")


def _connection_args(alias: str = "default") -> tuple[list[str], dict[str, str]]:
    db = connections[alias].settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise BackupError("db_backup needs PostgreSQL (the embedded SQLite database is one file: copy it)")
    args = ["-d", db["NAME"]]
    if db.get("HOST"):
        args += ["-h", db["HOST"]]
    if db.get("PORT"):
        args += ["-p", str(db["PORT"])]
    if db.get("USER"):
        args += ["-U", db["USER"]]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]  # never on the command line, where `ps` shows it
    return args, env


def backup_create(*, directory: Path | None = None, now: dt.datetime | None = None) -> Path:
    directory = Path(directory or settings.BACKUP_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    final = directory / f"fancommunity-{stamp}.dump"
    partial = final.with_suffix(".dump.partial")
    args, env = _connection_args()
    result = subprocess.run(
        [_tool("pg_dump"), "--format=custom", "--compress=6", "--no-owner", "--file", str(partial), *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[-500:]}")
    os.replace(partial, final)
    return final


def backup_restore(*, path: Path) -> None:
    if not Path(path).is_file():
        raise BackupError(f"no such dump: {path}")
    args, env = _connection_args()
    connections["default"].close()  # our own session must not hold locks the restore needs
    result = subprocess.run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            *args,
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing was changed): {result.stderr.strip()[-500:]}")


def backups_kept(stamps: list[dt.datetime], *, daily: int, weekly: int, monthly: int) -> set[dt.datetime]:
    """The dumps a retention keeps: the newest of each of the last `daily` days, `weekly` ISO
    weeks and `monthly` months that have a dump (the newest dump overall is always kept)."""
    kept: set[dt.datetime] = set()
    for count, key in (
        (daily, lambda t: t.date()),
        (weekly, lambda t: t.isocalendar()[:2]),
        (monthly, lambda t: (t.year, t.month)),
    ):
        seen: list[object] = []
        for stamp in sorted(stamps, reverse=True):
            period = key(stamp)
            if period in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(period)
            kept.add(stamp)
    if stamps:
        kept.add(max(stamps))
    return kept


def backups_prune(*, directory: Path | None = None) -> list[Path]:
    """Delete the dumps the retention does not keep; returns the deleted paths."""
    directory = Path(directory or settings.BACKUP_DIR)
    dumps: dict[dt.datetime, Path] = {}
    for path in directory.glob("fancommunity-*.dump"):
        match = NAME.match(path.name)
        if match:
            dumps[dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)] = path
    kept = backups_kept(
        list(dumps),
        daily=settings.BACKUP_KEEP_DAILY,
        weekly=settings.BACKUP_KEEP_WEEKLY,
        monthly=settings.BACKUP_KEEP_MONTHLY,
    )
    deleted = []
    for stamp, path in sorted(dumps.items()):
        if stamp not in kept:
            path.unlink()
            deleted.append(path)
    return deleted
