"""CPU-seconds per process group, from /proc (Linux), for benchmarks on a shared machine.

A wall rate on a loaded 2-core machine says as much about the neighbours as about the code; the CPU
a process group spent for a phase's texts does not. A group is a set of processes found afresh at
each snapshot (its members come and go: the web server recycles workers, PostgreSQL forks backends); each
member counts its own time plus its reaped children's (cutime/cstime), so a worker that exited
between two snapshots is still counted, through the parent that waited for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _processes() -> dict[int, list[str]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                found[int(entry)] = fields
    return found


def _cpu(fields: list[str]) -> float:
    # After the name: state(0) ppid(1) pgrp(2) session(3) ... utime(11) stime(12) cutime(13) cstime(14)
    return sum(int(x) for x in fields[11:15]) / TICK


def session(sid: int) -> Callable[[dict[int, list[str]]], set[int]]:
    """Every process of a session (a child started with start_new_session=True and its children)."""
    return lambda procs: {pid for pid, f in procs.items() if int(f[3]) == sid}


def tree(root: int) -> Callable[[dict[int, list[str]]], set[int]]:
    """A process and its descendants (PostgreSQL's postmaster and its backends)."""

    def members(procs: dict[int, list[str]]) -> set[int]:
        found, frontier = {root} if root in procs else set(), [root]
        while frontier:
            parent = frontier.pop()
            for pid, f in procs.items():
                if int(f[1]) == parent and pid not in found:
                    found.add(pid)
                    frontier.append(pid)
        return found

    return members


def command_line(needle: str) -> Callable[[dict[int, list[str]]], set[int]]:
    """Processes whose command line contains `needle` (the sandbox, found by its port)."""

    def members(procs: dict[int, list[str]]) -> set[int]:
        found = set()
        for pid in procs:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmd:
                found.add(pid)
        return found

    return members


def snapshot(groups: dict[str, Callable[[dict[int, list[str]]], set[int]]]) -> dict[str, float]:
    """CPU-seconds used so far by each group's current members (and their reaped children)."""
    procs = _processes()
    return {name: sum(_cpu(procs[pid]) for pid in members(procs)) for name, members in groups.items()}


def machine_busy() -> float:
    """CPU-seconds the whole machine spent not idle so far (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def postmaster_pid(connection) -> int:
    """The PostgreSQL server's main process, as the parent of this connection's backend."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    fields = _stat(backend)
    if fields is None:
        raise RuntimeError("the PostgreSQL server is not on this machine (or not visible in /proc)")
    return int(fields[1])
