"""A throwaway PostgreSQL server for the test suite and the benchmarks.

    python -m tests.pgtemp [--durable] -- COMMAND [ARGS ...]

initdb into a temporary directory, start the server on a free loopback port (as the `postgres`
user when run as root: PostgreSQL refuses to run as root), run COMMAND with DATABASE_URL pointing at
it, then stop the server and delete the directory, whatever COMMAND did. Exits with COMMAND's code.

Without PostgreSQL binaries it exits 0 with a warning, unless CI=true: in CI a missing PostgreSQL
is a failure, never a silent skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

DB_NAME = "fancommunity"
# Servers this process started, by URL: what restart() needs (issue 17's fault test restarts one).
SERVERS: dict[str, tuple[Path, Path, Path, str]] = {}


def find_bindir() -> Path | None:
    candidates = []
    if os.environ.get("PG_BIN"):
        candidates.append(os.environ["PG_BIN"])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += ["/usr/local/pgsql/bin", "/usr/local/bin", "/usr/bin"]
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    return None


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name.split(".")[0])
    except ValueError:
        return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """Start a private server and yield its DATABASE_URL; stop and delete it afterwards."""
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BIN")
    root = Path(tempfile.mkdtemp(prefix="fancommunity-pg-"))
    data = root / "data"
    log = root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    started = False
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # A throwaway server for tests: durability off makes the suite faster. Benchmarks pass
        # --durable so their figures are those of a real server's default settings.
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        # A diagnosis's extra server settings, e.g. "-c shared_preload_libraries=pg_stat_statements"
        # to see which statements a benchmark's PostgreSQL time goes to (docs/ARCHITECTURE.md).
        options += " " + os.environ.get("PGTEMP_OPTIONS", "")
        subprocess.run(
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        started = True
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DB_NAME], check=True
        )
        url = f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}"
        SERVERS[url] = (bindir, data, log, options)
        yield url
    finally:
        if started:
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        shutil.rmtree(root, ignore_errors=True)


def stop(url: str, *, mode: str = "fast") -> None:
    """Stop a server throwaway_postgres() started (its data stays): every connection is cut."""
    bindir, data, _log, _options = SERVERS[url]
    subprocess.run(
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start(url: str) -> None:
    """Start a stopped server again on the same port and data."""
    bindir, data, log, options = SERVERS[url]
    subprocess.run(
        _as_postgres(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str]) -> int:
    durable = "--durable" in argv[: argv.index("--")] if "--" in argv else False
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        sys.stderr.write("usage: python -m tests.pgtemp [--durable] -- COMMAND [ARGS ...]\n")
        return 2
    command = argv[argv.index("--") + 1 :]
    if find_bindir() is None:
        message = "PostgreSQL server binaries not found (looked in PG_BIN, /usr/lib/postgresql/*/bin)"
        if os.environ.get("CI", "").lower() == "true":
            sys.stderr.write(f"FAIL: {message}; CI=true requires PostgreSQL.\n")
            return 1
        sys.stderr.write(f"WARNING: {message}; skipping: {' '.join(command)}\n")
        return 0
    # Turn SIGTERM into an exception so the finally block stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with throwaway_postgres(durable=durable) as url:
        env = {**os.environ, "DATABASE_URL": url}
        print(f"pgtemp: PostgreSQL at {url}", flush=True)
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
