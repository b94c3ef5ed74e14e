"""The embedded SQLite takes a web process and a task worker writing at once.

Two processes run read-then-write transactions against one database file with the project's own
settings. Without IMMEDIATE transactions both would take a read lock, then deadlock on the upgrade
to a write lock and fail with "database is locked"; without the busy timeout the loser fails at
once. With the settings, every write lands.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITES = 150

WRITER = """
import os, sys, django
os.environ["DJANGO_SETTINGS_MODULE"] = "fancommunity.settings"
django.setup()
from django.db import connection, transaction
who = sys.argv[1]
sys.stdin.readline()  # start together
for i in range(int(sys.argv[2])):
    with transaction.atomic():
        with connection.cursor() as c:
            c.execute("SELECT COALESCE(MAX(n), 0) FROM counter")
            (n,) = c.fetchone()
            c.execute("INSERT INTO counter (n, who) VALUES (%s, %s)", [n + 1, who])
print("ok", who)
"""


def test_web_and_worker_write_at_once_without_database_is_locked(tmp_path):
    db = tmp_path / "embedded.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER, who TEXT)")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DEBUG": "true"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, who, str(WRITES)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("web", "worker")
    ]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT who, COUNT(*) FROM counter GROUP BY who").fetchall()
        (max_n,) = conn.execute("SELECT MAX(n) FROM counter").fetchone()
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert dict(rows) == {"web": WRITES, "worker": WRITES}
    # Read-then-write under the write lock: no two transactions saw the same MAX.
    assert max_n == 2 * WRITES
    assert journal == "wal"
