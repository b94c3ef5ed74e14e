"""Helpers of the multi-process reliability tests: task clusters as subprocesses (each in a
working directory of its own, like a process on another machine), a private Redis server, and
the sandbox ledger (one JSON line per message the sandbox accepted: the ground truth)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import stop_process

ROOT = Path(__file__).resolve().parents[2]


def ledger_count(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_bytes().count(b"\n")  # complete lines only: the last may be half-written


def ledger(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A private redis-server on a free port, no persistence; yields its URL."""
    binary = redis_server_path()
    if binary is None:
        raise FileNotFoundError("redis-server not found (apt-get install redis-server)")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)


def cluster_env(*, database_url: str, sandbox_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    from django.conf import settings

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "Q_SYNC": "false",
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": sandbox_url,
        "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
        # Timings short enough for a test, long enough for a machine whose 2 cores run the
        # sandbox, PostgreSQL, the clusters and other jobs at once (at load 16, a 3 s HTTP timeout
        # and a 10 s task timeout turned slow answers into uncertain sends and killed sweeps).
        "TWILIO_HTTP_TIMEOUT": "10",
        # Status callbacks go nowhere fast (connection refused) instead of to a public host.
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "Q_WORKERS": "2",
        "Q_TIMEOUT": "60",
        "Q_RETRY": "90",
        "CAMPAIGN_LEASE_SECONDS": "8",
        "CAMPAIGN_TASK_SECONDS": "5",
        "CAMPAIGN_PARALLEL_TASKS": "4",
        "CAMPAIGN_RECONCILE_AFTER_SECONDS": "5",
        # CAMPAIGN_MAX_ATTEMPTS stays at its default (5): a claim lost to a SIGKILL is no attempt
        # (only a provider call counts, messaging/sending/claim.py), so three kills cost nothing.
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.update(extra or {})
    return env


def start_cluster(env: dict[str, str], *, workdir: Path, log, wait_for_db: bool = False) -> subprocess.Popen:
    """`manage.py qcluster` run from `workdir` (nothing shared with another "machine" but the
    database, the broker and the provider). Its own session: a SIGKILL of the group takes the
    cluster's worker processes down with it, as a machine dying would."""
    workdir.mkdir(parents=True, exist_ok=True)
    manage = str(ROOT / "manage.py")
    command = [sys.executable, manage, "qcluster"]
    if wait_for_db:
        command = [
            "sh",
            "-c",
            f"{sys.executable} {manage} wait_for_db --timeout 120 --interval 0.5 && exec {sys.executable} {manage} qcluster",
        ]
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
